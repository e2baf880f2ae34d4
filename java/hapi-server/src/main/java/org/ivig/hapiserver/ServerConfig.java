package org.ivig.hapiserver;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.interceptor.api.IInterceptorService;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.provider.ValueSetOperationProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.ETagSupportEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.apache.commons.dbcp2.BasicDataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

import jakarta.persistence.EntityManagerFactory;
import javax.sql.DataSource;
import java.time.Duration;
import java.util.Properties;

/**
 * Everything that does not depend on the FHIR version: storage settings, H2 + Hibernate,
 * batch2 (HAPI's internal job framework, which the JPA layer needs to start), and the
 * RestfulServer servlet at /fhir/*. Only a handful of Spring Boot auto-configurations are
 * imported (embedded Tomcat and property placeholders) to keep start-up short.
 */
@Configuration
@ImportAutoConfiguration({
	PropertyPlaceholderAutoConfiguration.class,
	ServletWebServerFactoryAutoConfiguration.class,
	EmbeddedWebServerFactoryCustomizerAutoConfiguration.class
})
@Import({
	HapiJpaConfig.class,
	ThreadPoolFactoryConfig.class,
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	SubscriptionChannelConfig.class
})
public class ServerConfig {

	private static final Logger ourLog = LoggerFactory.getLogger(ServerConfig.class);

	@Bean
	public JpaStorageSettings storageSettings(
			@Value("${ivig.hapi.suppress-unchanged:true}") boolean theSuppressUnchanged,
			@Value("${ivig.hapi.client-id-strategy:ALPHANUMERIC}") String theClientIdStrategy,
			@Value("${ivig.hapi.max-transaction-entries:0}") int theMaxTransactionEntries) {
		JpaStorageSettings s = new JpaStorageSettings();
		// HAPI's defaults unless the command line asks otherwise: the other settings let the
		// tests make HAPI behave like servers with other habits (see docs/servers.md).
		s.setSuppressUpdatesWithNoChange(theSuppressUnchanged);
		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.valueOf(theClientIdStrategy));
		if (theMaxTransactionEntries > 0) {
			s.setMaximumTransactionBundleSize(theMaxTransactionEntries);
		}
		s.setAllowExternalReferences(false);
		s.setEnforceReferentialIntegrityOnWrite(true);
		s.setDeleteEnabled(true);
		// Tests search right after writing: never answer a search from a cached earlier result
		// (HAPI reuses identical searches for 60 s by default).
		s.setReuseCachedSearchResultsForMillis(null);
		// No full-text indexing: Hibernate Search is off.
		s.setHibernateSearchIndexSearchParams(false);
		s.setHibernateSearchIndexFullText(false);
		s.setStoreResourceInHSearchIndex(false);
		// No background work that a short-lived test server does not need.
		s.setEnableTaskBulkImportJobExecution(false);
		s.setEnableTaskBulkExportJobExecution(false);
		s.setEnableTaskPreExpandValueSets(false);
		s.setEnableTaskResourceReindexing(false);
		s.setPreExpandValueSets(false);
		s.setMarkResourcesForReindexingUponSearchParameterChange(false);
		return s;
	}

	@Bean
	public ServerHabits serverHabits(JpaStorageSettings theStorageSettings,
			@Value("${ivig.hapi.max-request-bytes:0}") long theMaxRequestBytes) {
		return new ServerHabits(theStorageSettings, theMaxRequestBytes);
	}

	@Bean
	public FilterRegistrationBean<ServerHabits.BodySizeFilter> bodySizeFilter(ServerHabits theHabits) {
		FilterRegistrationBean<ServerHabits.BodySizeFilter> reg =
				new FilterRegistrationBean<>(new ServerHabits.BodySizeFilter(theHabits));
		reg.addUrlPatterns("/fhir/*");
		reg.setName("bodySizeFilter");
		return reg;
	}

	/** Only with --runtime-settings: a test server then stands for one server profile after another. */
	@Bean
	public ServletRegistrationBean<ServerHabits.SettingsServlet> settingsServlet(ServerHabits theHabits,
			@Value("${ivig.hapi.runtime-settings:false}") boolean theEnabled) {
		ServletRegistrationBean<ServerHabits.SettingsServlet> reg = new ServletRegistrationBean<>(
				new ServerHabits.SettingsServlet(theHabits), "/admin/settings");
		reg.setName("settingsServlet");
		reg.setEnabled(theEnabled);
		return reg;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings();
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		SubscriptionSettings s = new SubscriptionSettings();
		// No subscription channel type is enabled: subscriptions are stored but never processed.
		s.setEnableInMemorySubscriptionMatching(false);
		return s;
	}

	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource(@Value("${ivig.hapi.jdbc-url}") String theJdbcUrl) {
		ourLog.info("H2 database: {}", theJdbcUrl);
		BasicDataSource ds = new BasicDataSource();
		ds.setDriverClassName("org.h2.Driver");
		ds.setUrl(theJdbcUrl);
		ds.setUsername("sa");
		ds.setPassword("");
		ds.setMaxTotal(20);
		ds.setMaxWait(Duration.ofSeconds(30));
		return ds;
	}

	@Bean
	@Primary
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory theBeanFactory,
			DataSource theDataSource,
			FhirContext theFhirContext,
			JpaStorageSettings theStorageSettings) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(theBeanFactory, theFhirContext, theStorageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(theDataSource);
		Properties p = new Properties();
		p.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		p.put("hibernate.hbm2ddl.auto", "update");
		p.put("hibernate.search.enabled", "false");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		// Hibernate 6 cannot create its temporary "HTE_" tables for some HAPI entities on H2
		// (duplicate column names); HAPI never needs them, so do not try.
		p.put("hibernate.query.mutation_strategy.global_temporary.create_tables", "false");
		p.put("hibernate.query.mutation_strategy.global_temporary.drop_tables", "false");
		emf.setJpaProperties(p);
		return emf;
	}

	@Bean
	@Primary
	public JpaTransactionManager transactionManager(EntityManagerFactory theEntityManagerFactory) {
		return new JpaTransactionManager(theEntityManagerFactory);
	}

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(
			FhirContext theFhirContext,
			ResourceProviderFactory theResourceProviders,
			JpaSystemProvider<?, ?> theSystemProvider,
			IFhirSystemDao<?, ?> theSystemDao,
			ValueSetOperationProvider theValueSetOperationProvider,
			DatabaseBackedPagingProvider thePagingProvider,
			JpaStorageSettings theStorageSettings,
			ISearchParamRegistry theSearchParamRegistry,
			IValidationSupport theValidationSupport,
			IInterceptorService theInterceptorService,
			@Value("${ivig.hapi.required-token:}") String theRequiredToken) {

		RestfulServer server = new RestfulServer(theFhirContext, theInterceptorService);
		server.setServerName("ivig-fhir local HAPI FHIR JPA server");
		server.setImplementationDescription("ivig-fhir local HAPI FHIR JPA server (embedded H2)");
		server.setDefaultResponseEncoding(EncodingEnum.JSON);
		server.setETagSupport(ETagSupportEnum.ENABLED);
		// The page sizes of HAPI's own starter server (hapi-fhir-jpaserver-starter application.yaml:
		// default_page_size 20, max_page_size 200) rather than the JPA module's bare 10 / 50: what a
		// hospital's HAPI answers, and 4x fewer round trips when an upload reads what it holds.
		thePagingProvider.setDefaultPageSize(20);
		thePagingProvider.setMaximumPageSize(200);
		server.setPagingProvider(thePagingProvider);
		server.registerProviders(theResourceProviders.createProviders());
		server.registerProvider(theSystemProvider);
		server.registerProvider(theValueSetOperationProvider);
		server.setServerConformanceProvider(new JpaCapabilityStatementProvider(
				server, theSystemDao, theStorageSettings, theSearchParamRegistry, theValidationSupport));

		if (theRequiredToken != null && !theRequiredToken.isEmpty()) {
			ourLog.info("Bearer token required for every request except GET /fhir/metadata");
			server.registerInterceptor(new BearerTokenInterceptor(theRequiredToken));
		}

		ServletRegistrationBean<RestfulServer> reg = new ServletRegistrationBean<>(server, "/fhir/*");
		reg.setName("fhirServlet");
		reg.setLoadOnStartup(1);
		return reg;
	}
}
