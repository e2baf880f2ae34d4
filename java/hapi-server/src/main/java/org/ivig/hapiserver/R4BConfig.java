package org.ivig.hapiserver;

import ca.uhn.fhir.jpa.config.r4b.JpaR4BConfig;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/** FHIR R4B (4.3.0) DAOs and resource providers. */
@Configuration
@Import(JpaR4BConfig.class)
public class R4BConfig {}
