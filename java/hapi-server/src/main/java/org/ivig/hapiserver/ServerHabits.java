package org.ivig.hapiserver;

import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.http.HttpFilter;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The habits of other FHIR servers that HAPI can take on (see docs/servers.md), changeable
 * while the server runs so one test server can stand for every server profile in turn:
 *
 * <ul>
 * <li>entries per transaction: HAPI's own maximumTransactionBundleSize (413 above it);
 * <li>client-assigned ids: HAPI's own client id strategy (NOT_ALLOWED refuses PUT create);
 * <li>identical updates: HAPI's own suppressUpdatesWithNoChange (off: a new version each);
 * <li>bytes per request: HAPI has no such setting, so a servlet filter answers 413 above it,
 *     as the gateway in front of Google's or Firely's server does.
 * </ul>
 *
 * JpaStorageSettings is read on every request, so a change applies to the next request.
 */
final class ServerHabits {

	private final JpaStorageSettings mySettings;
	private volatile long myMaxRequestBytes;

	ServerHabits(JpaStorageSettings theSettings, long theMaxRequestBytes) {
		mySettings = theSettings;
		myMaxRequestBytes = theMaxRequestBytes;
	}

	synchronized String describe() {
		Integer entries = mySettings.getMaximumTransactionBundleSize();
		return "{\"max-transaction-entries\":" + (entries == null ? 0 : entries)
				+ ",\"max-request-bytes\":" + myMaxRequestBytes
				+ ",\"client-id-strategy\":\"" + mySettings.getResourceClientIdStrategy() + "\""
				+ ",\"suppress-unchanged\":" + mySettings.isSuppressUpdatesWithNoChange() + "}";
	}

	/** Applies the parameters given; unknown names or values are refused before any change. */
	synchronized void apply(HttpServletRequest theRequest) {
		String entries = theRequest.getParameter("max-transaction-entries");
		String bytes = theRequest.getParameter("max-request-bytes");
		String strategy = theRequest.getParameter("client-id-strategy");
		String suppress = theRequest.getParameter("suppress-unchanged");
		for (String name : theRequest.getParameterMap().keySet()) {
			if (!name.equals("max-transaction-entries") && !name.equals("max-request-bytes")
					&& !name.equals("client-id-strategy") && !name.equals("suppress-unchanged")) {
				throw new IllegalArgumentException("unknown setting " + name);
			}
		}
		int entryCap = entries == null ? -1 : Integer.parseInt(entries);
		long byteCap = bytes == null ? -1 : Long.parseLong(bytes);
		JpaStorageSettings.ClientIdStrategyEnum ids = strategy == null ? null
				: JpaStorageSettings.ClientIdStrategyEnum.valueOf(strategy.toUpperCase(Locale.ROOT));
		if (suppress != null && !suppress.equals("true") && !suppress.equals("false")) {
			throw new IllegalArgumentException("suppress-unchanged must be true or false");
		}
		if (entryCap >= 0) {
			mySettings.setMaximumTransactionBundleSize(entryCap == 0 ? null : entryCap);
		}
		if (byteCap >= 0) {
			myMaxRequestBytes = byteCap;
		}
		if (ids != null) {
			mySettings.setResourceClientIdStrategy(ids);
		}
		if (suppress != null) {
			mySettings.setSuppressUpdatesWithNoChange(Boolean.parseBoolean(suppress));
		}
	}

	long maxRequestBytes() {
		return myMaxRequestBytes;
	}

	/** GET /admin/settings shows them; POST /admin/settings?name=value changes them. */
	static final class SettingsServlet extends HttpServlet {
		private final transient ServerHabits myHabits;

		SettingsServlet(ServerHabits theHabits) {
			myHabits = theHabits;
		}

		@Override
		protected void doGet(HttpServletRequest theRequest, HttpServletResponse theResponse) throws IOException {
			reply(theResponse, 200, myHabits.describe());
		}

		@Override
		protected void doPost(HttpServletRequest theRequest, HttpServletResponse theResponse) throws IOException {
			try {
				myHabits.apply(theRequest);
			} catch (IllegalArgumentException e) {
				reply(theResponse, 400, "{\"error\":\"" + e.getMessage().replace("\"", "'") + "\"}");
				return;
			}
			reply(theResponse, 200, myHabits.describe());
		}

		private static void reply(HttpServletResponse theResponse, int theStatus, String theBody) throws IOException {
			theResponse.setStatus(theStatus);
			theResponse.setContentType("application/json");
			theResponse.getOutputStream().write(theBody.getBytes(StandardCharsets.UTF_8));
		}
	}

	/** 413 with an OperationOutcome for a request body above the byte limit (0: none). */
	static final class BodySizeFilter extends HttpFilter {
		private final transient ServerHabits myHabits;

		BodySizeFilter(ServerHabits theHabits) {
			myHabits = theHabits;
		}

		@Override
		protected void doFilter(HttpServletRequest theRequest, HttpServletResponse theResponse, FilterChain theChain)
				throws IOException, ServletException {
			long cap = myHabits.maxRequestBytes();
			long length = theRequest.getContentLengthLong();
			// A body without Content-Length (chunked) is buffered to be measured.
			if (cap > 0 && length < 0 && theRequest.getInputStream() != null) {
				byte[] body = theRequest.getInputStream().readNBytes((int) Math.min(Integer.MAX_VALUE - 8, cap + 1));
				if (body.length <= cap) {
					theChain.doFilter(new Buffered(theRequest, body), theResponse);
					return;
				}
				length = body.length;
			}
			if (cap > 0 && length > cap) {
				// Read the rest first: a client still sending would see a reset, not the 413.
				theRequest.getInputStream().transferTo(java.io.OutputStream.nullOutputStream());
				theResponse.setStatus(413);
				theResponse.setContentType("application/fhir+json");
				String outcome = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
						+ "\"code\":\"too-costly\",\"diagnostics\":\"request body of " + length
						+ " bytes is above this server's limit of " + cap + " bytes\"}]}";
				theResponse.getOutputStream().write(outcome.getBytes(StandardCharsets.UTF_8));
				return;
			}
			theChain.doFilter(theRequest, theResponse);
		}
	}

	private static final class Buffered extends jakarta.servlet.http.HttpServletRequestWrapper {
		private final byte[] myBody;

		Buffered(HttpServletRequest theRequest, byte[] theBody) {
			super(theRequest);
			myBody = theBody;
		}

		@Override
		public jakarta.servlet.ServletInputStream getInputStream() {
			java.io.ByteArrayInputStream in = new java.io.ByteArrayInputStream(myBody);
			return new jakarta.servlet.ServletInputStream() {
				@Override
				public boolean isFinished() {
					return in.available() == 0;
				}

				@Override
				public boolean isReady() {
					return true;
				}

				@Override
				public void setReadListener(jakarta.servlet.ReadListener theListener) {
					throw new UnsupportedOperationException();
				}

				@Override
				public int read() {
					return in.read();
				}

				@Override
				public int read(byte[] theBuffer, int theOffset, int theLength) {
					return in.read(theBuffer, theOffset, theLength);
				}
			};
		}

		@Override
		public java.io.BufferedReader getReader() {
			return new java.io.BufferedReader(new java.io.InputStreamReader(getInputStream(), StandardCharsets.UTF_8));
		}

		@Override
		public int getContentLength() {
			return myBody.length;
		}

		@Override
		public long getContentLengthLong() {
			return myBody.length;
		}
	}
}
