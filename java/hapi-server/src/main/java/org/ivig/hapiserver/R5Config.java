package org.ivig.hapiserver;

import ca.uhn.fhir.jpa.config.r5.JpaR5Config;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/** FHIR R5 (5.0.0) DAOs and resource providers. */
@Configuration
@Import(JpaR5Config.class)
public class R5Config {}
