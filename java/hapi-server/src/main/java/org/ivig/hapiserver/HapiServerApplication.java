package org.ivig.hapiserver;

import org.springframework.boot.Banner;
import org.springframework.boot.SpringApplication;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Entry point of the local HAPI FHIR JPA server used by ivig-fhir.
 *
 * <pre>
 * java -jar ivig-hapi-server.jar --port 8080 [--fhir-version R5|R4B|R4] [--data-dir DIR]
 *      [--require-token-file FILE] [--host 127.0.0.1]
 *      [--max-transaction-entries N] [--client-id-strategy ALPHANUMERIC|ANY|NOT_ALLOWED]
 *      [--no-suppress-unchanged] [--max-request-bytes N] [--runtime-settings]
 * </pre>
 *
 * One FHIR version per process. Without --data-dir the H2 database lives in memory and
 * vanishes with the process; with it, the database is an H2 file under DIR and survives
 * restarts. When HAPI_REQUIRED_BEARER_TOKEN is set (or --require-token-file is given),
 * every request except GET /fhir/metadata needs "Authorization: Bearer TOKEN".
 */
public final class HapiServerApplication {

	static final String ENV_TOKEN = "HAPI_REQUIRED_BEARER_TOKEN";

	private HapiServerApplication() {}

	public static void main(String[] args) throws Exception {
		ServerOptions options;
		try {
			options = ServerOptions.parse(args);
		} catch (IllegalArgumentException e) {
			System.err.println("hapi-server: " + e.getMessage());
			System.err.println(ServerOptions.USAGE);
			System.exit(2);
			return;
		}
		if (options.help) {
			System.out.println(ServerOptions.USAGE);
			return;
		}

		Map<String, Object> props = new HashMap<>();
		props.put("server.port", options.port);
		props.put("server.address", options.host);
		props.put("server.shutdown", "immediate");
		props.put("spring.main.banner-mode", "off");
		props.put("spring.main.allow-bean-definition-overriding", "true");
		props.put("spring.main.allow-circular-references", "true");
		props.put("spring.jmx.enabled", "false");
		props.put("ivig.hapi.fhir-version", options.fhirVersion);
		props.put("ivig.hapi.jdbc-url", options.jdbcUrl());
		props.put("ivig.hapi.required-token", options.requiredToken == null ? "" : options.requiredToken);
		props.put("ivig.hapi.max-transaction-entries", options.maxTransactionEntries);
		props.put("ivig.hapi.client-id-strategy", options.clientIdStrategy);
		props.put("ivig.hapi.suppress-unchanged", options.suppressUnchanged);
		props.put("ivig.hapi.max-request-bytes", options.maxRequestBytes);
		props.put("ivig.hapi.runtime-settings", options.runtimeSettings);

		Class<?> versionConfig = switch (options.fhirVersion) {
			case "R4" -> R4Config.class;
			case "R4B" -> R4BConfig.class;
			default -> R5Config.class;
		};
		SpringApplication app = new SpringApplication(ServerConfig.class, versionConfig);
		app.setBannerMode(Banner.Mode.OFF);
		app.setDefaultProperties(props);
		app.setRegisterShutdownHook(true);
		// No command-line argument should reach Spring's property sources: they are ours.
		app.setAddCommandLineProperties(false);
		app.run();
	}

	/** Command-line options. */
	static final class ServerOptions {
		static final String USAGE = "usage: hapi-server --port N [--fhir-version R5|R4B|R4] [--data-dir DIR]"
				+ " [--require-token-file FILE] [--host ADDR]"
				+ " [--max-transaction-entries N] [--client-id-strategy ALPHANUMERIC|ANY|NOT_ALLOWED]"
				+ " [--no-suppress-unchanged] [--max-request-bytes N] [--runtime-settings]";

		int port = 8080;
		String host = "127.0.0.1";
		String fhirVersion = "R5";
		Path dataDir;
		String requiredToken;
		boolean help;
		// Server habits other vendors have, for tests (see docs/servers.md).
		int maxTransactionEntries;
		String clientIdStrategy = "ALPHANUMERIC";
		boolean suppressUnchanged = true;
		long maxRequestBytes;
		// POST /admin/settings changes the four habits above while the server runs (tests).
		boolean runtimeSettings;

		static ServerOptions parse(String[] args) throws Exception {
			ServerOptions o = new ServerOptions();
			Path tokenFile = null;
			for (int i = 0; i < args.length; i++) {
				String a = args[i];
				String value = null;
				int eq = a.indexOf('=');
				if (a.startsWith("--") && eq > 0) {
					value = a.substring(eq + 1);
					a = a.substring(0, eq);
				}
				switch (a) {
					case "-h", "--help" -> o.help = true;
					case "--port" -> {
						String v = value != null ? value : next(args, ++i, a);
						try {
							o.port = Integer.parseInt(v);
						} catch (NumberFormatException e) {
							throw new IllegalArgumentException("--port needs a number, got " + v);
						}
						if (o.port < 1 || o.port > 65535) {
							throw new IllegalArgumentException("--port out of range: " + v);
						}
					}
					case "--host" -> o.host = value != null ? value : next(args, ++i, a);
					case "--fhir-version" -> {
						String v = (value != null ? value : next(args, ++i, a)).toUpperCase(Locale.ROOT);
						if (!v.equals("R5") && !v.equals("R4B") && !v.equals("R4")) {
							throw new IllegalArgumentException("--fhir-version must be R5, R4B or R4, got " + v);
						}
						o.fhirVersion = v;
					}
					case "--max-transaction-entries" -> {
						String v = value != null ? value : next(args, ++i, a);
						try {
							o.maxTransactionEntries = Integer.parseInt(v);
						} catch (NumberFormatException e) {
							throw new IllegalArgumentException(a + " needs a number, got " + v);
						}
						if (o.maxTransactionEntries < 1) {
							throw new IllegalArgumentException(a + " must be at least 1, got " + v);
						}
					}
					case "--client-id-strategy" -> {
						String v = (value != null ? value : next(args, ++i, a)).toUpperCase(Locale.ROOT);
						if (!v.equals("ALPHANUMERIC") && !v.equals("ANY") && !v.equals("NOT_ALLOWED")) {
							throw new IllegalArgumentException(a + " must be ALPHANUMERIC, ANY or NOT_ALLOWED, got " + v);
						}
						o.clientIdStrategy = v;
					}
					case "--no-suppress-unchanged" -> o.suppressUnchanged = false;
					case "--runtime-settings" -> o.runtimeSettings = true;
					case "--max-request-bytes" -> {
						String v = value != null ? value : next(args, ++i, a);
						try {
							o.maxRequestBytes = Long.parseLong(v);
						} catch (NumberFormatException e) {
							throw new IllegalArgumentException(a + " needs a number, got " + v);
						}
						if (o.maxRequestBytes < 1) {
							throw new IllegalArgumentException(a + " must be at least 1, got " + v);
						}
					}
					case "--data-dir" -> o.dataDir = Path.of(value != null ? value : next(args, ++i, a));
					case "--require-token-file" -> tokenFile = Path.of(value != null ? value : next(args, ++i, a));
					default -> throw new IllegalArgumentException("unknown argument: " + args[i]);
				}
			}
			if (tokenFile != null) {
				o.requiredToken = Files.readString(tokenFile).trim();
				if (o.requiredToken.isEmpty()) {
					throw new IllegalArgumentException("token file is empty: " + tokenFile);
				}
			} else {
				String env = System.getenv(ENV_TOKEN);
				if (env != null && !env.isBlank()) {
					o.requiredToken = env.trim();
				}
			}
			if (o.dataDir != null) {
				Files.createDirectories(o.dataDir);
			}
			return o;
		}

		private static String next(String[] args, int i, String name) {
			if (i >= args.length) {
				throw new IllegalArgumentException(name + " needs a value");
			}
			return args[i];
		}

		String jdbcUrl() {
			if (dataDir == null) {
				return "jdbc:h2:mem:hapi-" + fhirVersion.toLowerCase(Locale.ROOT) + ";DB_CLOSE_DELAY=-1";
			}
			// One database file per FHIR version, so one directory can hold both.
			Path db = dataDir.toAbsolutePath().resolve("hapi-" + fhirVersion.toLowerCase(Locale.ROOT));
			// DB_CLOSE_ON_EXIT=FALSE: Spring closes the pool itself on shutdown, after HAPI is done.
			return "jdbc:h2:file:" + db + ";DB_CLOSE_ON_EXIT=FALSE";
		}
	}
}
