package org.ivig.hapiserver;

import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/** FHIR R4 (4.0.1) DAOs and resource providers. */
@Configuration
@Import(JpaR4Config.class)
public class R4Config {}
