package org.ivig.hapiserver;

import ca.uhn.fhir.interceptor.api.Hook;
import ca.uhn.fhir.interceptor.api.Interceptor;
import ca.uhn.fhir.interceptor.api.Pointcut;
import ca.uhn.fhir.rest.api.Constants;
import ca.uhn.fhir.rest.api.RequestTypeEnum;
import ca.uhn.fhir.rest.api.server.RequestDetails;
import ca.uhn.fhir.rest.server.exceptions.AuthenticationException;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/**
 * Refuses with HTTP 401 (and an OperationOutcome body) every request that does not carry
 * "Authorization: Bearer TOKEN", except GET [base]/metadata, which stays open so clients
 * and readiness probes can read the CapabilityStatement.
 */
@Interceptor
public class BearerTokenInterceptor {

	private final byte[] myExpected;

	public BearerTokenInterceptor(String theRequiredToken) {
		myExpected = ("Bearer " + theRequiredToken).getBytes(StandardCharsets.UTF_8);
	}

	@Hook(Pointcut.SERVER_INCOMING_REQUEST_POST_PROCESSED)
	public boolean checkToken(RequestDetails theRequestDetails) {
		if (isOpenMetadataRequest(theRequestDetails)) {
			return true;
		}
		String header = theRequestDetails.getHeader(Constants.HEADER_AUTHORIZATION);
		if (header != null) {
			byte[] given = header.trim().getBytes(StandardCharsets.UTF_8);
			// constant-time comparison
			if (MessageDigest.isEqual(given, myExpected)) {
				return true;
			}
			throw unauthorized("Invalid bearer token", "invalid_token");
		}
		throw unauthorized("Missing Authorization: Bearer token", null);
	}

	private static AuthenticationException unauthorized(String theMessage, String theErrorCode) {
		AuthenticationException e = new AuthenticationException(theMessage);
		String challenge = "Bearer realm=\"ivig-hapi-server\"";
		if (theErrorCode != null) {
			challenge += ", error=\"" + theErrorCode + "\"";
		}
		e.addResponseHeader("WWW-Authenticate", challenge);
		return e;
	}

	private static boolean isOpenMetadataRequest(RequestDetails theRequestDetails) {
		if (theRequestDetails.getRequestType() != RequestTypeEnum.GET) {
			return false;
		}
		String path = theRequestDetails.getRequestPath();
		if (path == null) {
			return false;
		}
		while (path.startsWith("/")) {
			path = path.substring(1);
		}
		while (path.endsWith("/")) {
			path = path.substring(0, path.length() - 1);
		}
		return path.equals("metadata");
	}
}
