package org.ivigfhir.referee;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.parser.LenientErrorHandler;
import ca.uhn.fhir.validation.FhirValidator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.UnknownCodeSystemWarningValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.validation.ValidationMessage;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * ivig-fhir referee: validates FHIR JSON files with the HL7 validation engine as packaged by
 * HAPI FHIR (FhirInstanceValidator), fully offline, and prints one JSON document:
 * {"results": [{"file": PATH, "outcome": OperationOutcome}, ...]}.
 *
 * Exit codes: 0 = ran (whatever the findings), 2 = usage or I/O error.
 */
public final class Main {

    static final String USAGE =
            "usage: java -jar referee.jar [--fhir-version R5|R4B|R4] [--xver-package TGZ] [--isolate] [--no-preload] [--eager-core] [--pretty] FILE...\n"
                    + "  Validates each FHIR JSON resource or Bundle in FILE... with HAPI FHIR's\n"
                    + "  FhirInstanceValidator (offline) and prints\n"
                    + "  {\"fhirVersion\": ..., \"validator\": ..., \"results\": [{\"file\": ..., \"outcome\": <OperationOutcome>}]}\n"
                    + "  CodeSystem, ValueSet and StructureDefinition resources found in the files (top level or\n"
                    + "  as Bundle entries) are pre-loaded before validation: from all files together by default,\n"
                    + "  or only from the file being validated with --isolate; --no-preload turns this off.\n"
                    + "  --xver-package TGZ: the npm package hl7.fhir.xver-extensions (0.1.0), whose other/xver-paths-*.json\n"
                    + "  let the engine define cross-version extensions (http://hl7.org/fhir/5.0/StructureDefinition/extension-...).\n"
                    + "  --eager-core: R5 only, load the core definitions with HAPI's DefaultProfileValidationSupport\n"
                    + "  (parses all ~7,000 resources up front, ~25 s slower) instead of the lazy loader.\n"
                    + "  Exit 0 if it ran, 2 on usage or I/O errors.";

    /** Resource types pre-loaded into the PrePopulatedValidationSupport. */
    static final Set<String> CONFORMANCE_TYPES = Set.of("CodeSystem", "ValueSet", "StructureDefinition");

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    static void deleteTree(Path root) {
        try (java.util.stream.Stream<Path> walk = Files.walk(root)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException e) {
            // best effort
        }
    }

    /**
     * Keeps the engine offline and away from the user's package cache: the HL7 engine's web access is
     * switched to PROHIBITED, and "user.home" (where its FilesystemPackageCacheManager puts ~/.fhir/packages)
     * points at an empty private folder, so results do not depend on what happens to be cached on a machine.
     */
    static void sealOffline() {
        org.hl7.fhir.utilities.http.ManagedWebAccess.setAccessPolicy(
                org.hl7.fhir.utilities.http.ManagedWebAccess.WebAccessPolicy.PROHIBITED);
        try {
            Path home = Files.createTempDirectory("ivig-referee-home");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(home)));
            System.setProperty("user.home", home.toString());
        } catch (IOException e) {
            // keep the real home; the engine still cannot go online
        }
    }

    static int run(String[] args, PrintStream out, PrintStream err) {
        String version = "R5";
        boolean isolate = false;
        boolean pretty = false;
        boolean eagerCore = false;
        boolean preload = true;
        String xverPackage = null;
        List<String> files = new ArrayList<>();
        boolean endOfOptions = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!endOfOptions && a.equals("--")) {
                endOfOptions = true;
            } else if (!endOfOptions && (a.equals("--fhir-version") || a.startsWith("--fhir-version="))) {
                if (a.contains("=")) {
                    version = a.substring(a.indexOf('=') + 1);
                } else if (i + 1 < args.length) {
                    version = args[++i];
                } else {
                    err.println("referee: --fhir-version needs a value\n" + USAGE);
                    return 2;
                }
            } else if (!endOfOptions && (a.equals("--xver-package") || a.startsWith("--xver-package="))) {
                if (a.contains("=")) {
                    xverPackage = a.substring(a.indexOf('=') + 1);
                } else if (i + 1 < args.length) {
                    xverPackage = args[++i];
                } else {
                    err.println("referee: --xver-package needs a value\n" + USAGE);
                    return 2;
                }
            } else if (!endOfOptions && a.equals("--isolate")) {
                isolate = true;
            } else if (!endOfOptions && a.equals("--no-preload")) {
                preload = false;
            } else if (!endOfOptions && a.equals("--eager-core")) {
                eagerCore = true;
            } else if (!endOfOptions && a.equals("--pretty")) {
                pretty = true;
            } else if (!endOfOptions && (a.equals("-h") || a.equals("--help"))) {
                out.println(USAGE);
                return 0;
            } else if (!endOfOptions && a.startsWith("-") && a.length() > 1) {
                err.println("referee: unknown option " + a + "\n" + USAGE);
                return 2;
            } else {
                files.add(a);
            }
        }
        FhirContext ctx;
        switch (version.toUpperCase()) {
            case "R5":
            case "5.0.0":
            case "5.0":
                ctx = FhirContext.forR5Cached();
                break;
            case "R4B":
            case "4.3.0":
            case "4.3":
                ctx = FhirContext.forR4BCached();
                break;
            case "R4":
            case "4.0.1":
            case "4.0":
                ctx = FhirContext.forR4Cached();
                break;
            default:
                err.println("referee: unsupported --fhir-version " + version + " (use R5, R4B or R4)");
                return 2;
        }
        if (files.isEmpty()) {
            err.println("referee: no input files\n" + USAGE);
            return 2;
        }

        // Read everything first, so an unreadable file fails fast (exit 2) before the slow start-up.
        Map<String, String> contents = new LinkedHashMap<>();
        for (String f : files) {
            try {
                contents.put(f, Files.readString(Path.of(f), StandardCharsets.UTF_8));
            } catch (IOException | RuntimeException e) {
                err.println("referee: cannot read " + f + ": " + e);
                return 2;
            }
        }

        Map<String, byte[]> binaries = new LinkedHashMap<>();
        if (xverPackage != null) {
            try {
                binaries.putAll(xverPaths(Path.of(xverPackage), ctx));
            } catch (IOException | RuntimeException e) {
                err.println("referee: cannot read --xver-package " + xverPackage + ": " + e);
                return 2;
            }
        }

        sealOffline();
        ObjectMapper mapper = new ObjectMapper();
        if (pretty) {
            mapper.enable(SerializationFeature.INDENT_OUTPUT);
        }
        Referee referee = new Referee(ctx, mapper, eagerCore, preload, binaries);
        if (!isolate && preload) {
            referee.preload(contents.values());
        }

        ObjectNode doc = mapper.createObjectNode();
        doc.put("fhirVersion", ctx.getVersion().getVersion().getFhirVersionString());
        doc.put("validator", "HAPI FHIR " + ca.uhn.fhir.util.VersionUtil.getVersion()
                + " FhirInstanceValidator (org.hl7.fhir.validation " + coreVersion() + ")");
        ArrayNode results = doc.putArray("results");
        for (Map.Entry<String, String> e : contents.entrySet()) {
            ObjectNode r = results.addObject();
            r.put("file", e.getKey());
            r.set("outcome", referee.validate(e.getValue(), isolate));
        }
        try {
            out.println(mapper.writeValueAsString(doc));
            out.flush();
        } catch (IOException ex) {
            err.println("referee: cannot write output: " + ex);
            return 2;
        }
        return 0;
    }

    /**
     * The engine's table of the elements of each FHIR version (other/xver-paths-V.json in the npm package
     * hl7.fhir.xver-extensions), keyed as the engine asks for them. With it, the engine's XVerExtensionManager
     * builds the definition of a cross-version extension (http://hl7.org/fhir/5.0/StructureDefinition/extension-
     * Resource.element) on demand; without it every such extension is an error ("invalid Version").
     */
    static Map<String, byte[]> xverPaths(Path tgz, FhirContext ctx) throws IOException {
        Map<String, byte[]> out = new LinkedHashMap<>();
        try (java.io.InputStream in = Files.newInputStream(tgz)) {
            org.hl7.fhir.utilities.npm.NpmPackage pkg = org.hl7.fhir.utilities.npm.NpmPackage.fromPackage(in);
            for (String name : pkg.list("other")) {
                if (name.startsWith("xver-paths-") && name.endsWith(".json")) {
                    try (java.io.InputStream file = pkg.load("other", name)) {
                        byte[] bytes = file.readAllBytes();
                        if (name.equals("xver-paths-5.0.json")
                                && ctx.getVersion().getVersion() == ca.uhn.fhir.context.FhirVersionEnum.R4) {
                            bytes = r5PathsForR4(bytes, ctx.getResourceTypes());
                        }
                        out.put(name, bytes);
                    }
                }
            }
        }
        if (out.isEmpty()) {
            throw new IOException("no other/xver-paths-*.json in " + tgz);
        }
        return out;
    }

    /**
     * hl7.fhir.xver-extensions 0.1.0 marks with "!" each R5 element and type that R4B already has (it
     * needs no extension there), and the engine leaves those out of the definitions it builds. R4 lacks
     * whole resource types R4B has (ClinicalUseDefinition, RegulatedAuthorization, ...): in R4 every element
     * of those needs its extension, so for them the marks are dropped. R4 also has no CodeableReference
     * datatype: such an element takes its concept (CodeableConcept) or its reference (Reference).
     */
    static byte[] r5PathsForR4(byte[] bytes, Set<String> r4Types) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode paths = (ObjectNode) json.readTree(bytes);
        paths.fields().forEachRemaining(entry -> {
            String type = entry.getKey().split("\\.")[0];
            boolean notInR4 = !r4Types.contains(type);
            JsonNode def = entry.getValue();
            if (!def.isObject()) {
                return;
            }
            ObjectNode node = (ObjectNode) def;
            if (notInR4 && node.get("elements") instanceof ArrayNode elements) {
                ArrayNode kept = json.createArrayNode();
                elements.forEach(e -> kept.add(e.asText().replaceFirst("^!(?!@)", "")));
                node.set("elements", kept);
            }
            if (node.get("types") instanceof ArrayNode types) {
                ArrayNode kept = json.createArrayNode();
                for (JsonNode t : types) {
                    String code = t.asText();
                    if (notInR4 && code.startsWith("!") && !code.startsWith("!@")) {
                        code = code.substring(1);
                    }
                    if (code.startsWith("CodeableReference")) {
                        kept.add("CodeableConcept");
                        kept.add(code.replaceFirst("^CodeableReference", "Reference"));
                    } else {
                        kept.add(code);
                    }
                }
                node.set("types", kept);
            }
        });
        return json.writeValueAsBytes(paths);
    }

    /** Version of the HL7 engine (org.hl7.fhir.validation) inside the jar, from its Maven metadata. */
    static String coreVersion() {
        String res = "META-INF/maven/ca.uhn.hapi.fhir/org.hl7.fhir.validation/pom.properties";
        try (java.io.InputStream in = Main.class.getClassLoader().getResourceAsStream(res)) {
            if (in != null) {
                java.util.Properties p = new java.util.Properties();
                p.load(in);
                return p.getProperty("version", "?");
            }
        } catch (IOException e) {
            // fall through
        }
        return "?";
    }

    /** Holds the (expensive) validation chain and validator for one FHIR version. */
    static final class Referee {
        private final FhirContext ctx;
        private final ObjectMapper mapper;
        private final IValidationSupport core;
        private final PrePopulatedValidationSupport shared;
        private final Engine sharedValidator;
        private final boolean preloadEnabled;
        private final Map<String, byte[]> binaries;

        Referee(FhirContext ctx, ObjectMapper mapper, boolean eagerCore, boolean preload, Map<String, byte[]> binaries) {
            this.ctx = ctx;
            this.mapper = mapper;
            this.preloadEnabled = preload;
            this.binaries = binaries;
            // Loading the core definitions is the slow part: one instance, shared by every chain.
            // For R5, HAPI's DefaultProfileValidationSupport parses all ~7,000 resources of the three
            // bundled packages up front; LazyCorePackageSupport serves the same packages on demand.
            if (!eagerCore && ctx.getVersion().getVersion() == ca.uhn.fhir.context.FhirVersionEnum.R5) {
                this.core = new LazyCorePackageSupport(ctx, "hl7.fhir.r5.core", LazyCorePackageSupport.R5_PACKAGES);
            } else {
                this.core = new DefaultProfileValidationSupport(ctx);
            }
            this.shared = newLocal();
            this.sharedValidator = newValidator(shared);
        }

        private PrePopulatedValidationSupport newLocal() {
            PrePopulatedValidationSupport local = new PrePopulatedValidationSupport(ctx);
            binaries.forEach((key, bytes) -> local.addBinary(bytes, key));
            return local;
        }

        private Engine newValidator(PrePopulatedValidationSupport local) {
            // The pre-populated resources sit after the core definitions (so a file cannot redefine
            // core canonicals) but before the terminology services that use them.
            UnknownCodeSystemWarningValidationSupport unknownCs = new UnknownCodeSystemWarningValidationSupport(ctx);
            // Code systems nobody ships offline (SNOMED CT, ICD-10-CM, ATC, ...): warn, don't fail.
            unknownCs.setNonExistentCodeSystemSeverity(IValidationSupport.IssueSeverity.WARNING);
            ValidationSupportChain chain = new ValidationSupportChain(
                    core,
                    local,
                    new CommonCodeSystemsTerminologyService(ctx),
                    new InMemoryTerminologyServerValidationSupport(ctx),
                    new SnapshotGeneratingValidationSupport(ctx),
                    unknownCs);
            CapturingInstanceValidator module = new CapturingInstanceValidator(chain);
            // No resource fetcher: references are resolved inside the Bundle only, nothing external is fetched.
            module.setValidatorResourceFetcher(null);
            FhirValidator v = ctx.newValidator();
            v.setValidateAgainstStandardSchema(false);
            v.setValidateAgainstStandardSchematron(false);
            v.registerValidatorModule(module);
            return new Engine(v, module);
        }

        /** Adds every CodeSystem / ValueSet / StructureDefinition found in the given JSON texts. */
        void preload(Iterable<String> texts) {
            preloadInto(shared, texts);
        }

        private void preloadInto(PrePopulatedValidationSupport target, Iterable<String> texts) {
            IParser parser = ctx.newJsonParser();
            parser.setParserErrorHandler(new LenientErrorHandler(false));
            for (String text : texts) {
                JsonNode root;
                try {
                    root = mapper.readTree(text);
                } catch (IOException | RuntimeException e) {
                    continue; // not JSON: the validator will report it
                }
                List<JsonNode> found = new ArrayList<>();
                collect(root, found, 0);
                for (JsonNode n : found) {
                    try {
                        IBaseResource res = parser.parseResource(n.toString());
                        target.addResource(res);
                    } catch (RuntimeException e) {
                        // A broken definition is the validator's business, not the pre-loader's.
                    }
                }
            }
        }

        private static void collect(JsonNode n, List<JsonNode> out, int depth) {
            if (n == null || !n.isObject() || depth > 8) {
                return;
            }
            JsonNode rt = n.get("resourceType");
            if (rt == null || !rt.isTextual()) {
                return;
            }
            String type = rt.asText();
            if (CONFORMANCE_TYPES.contains(type)) {
                JsonNode url = n.get("url");
                if (url != null && url.isTextual() && !url.asText().isBlank()) {
                    out.add(n);
                }
            } else if (type.equals("Bundle")) {
                JsonNode entries = n.get("entry");
                if (entries != null && entries.isArray()) {
                    for (JsonNode e : entries) {
                        if (e != null && e.isObject()) {
                            collect(e.get("resource"), out, depth + 1);
                        }
                    }
                }
            }
        }

        JsonNode validate(String text, boolean isolate) {
            Engine engine;
            if (isolate) {
                PrePopulatedValidationSupport local = newLocal();
                if (preloadEnabled) {
                    preloadInto(local, List.of(text));
                }
                engine = newValidator(local);
            } else {
                engine = sharedValidator;
            }
            ObjectNode oo = mapper.createObjectNode();
            oo.put("resourceType", "OperationOutcome");
            ArrayNode issues = oo.putArray("issue");
            engine.module.last = null;
            try {
                engine.validator.validateWithResult(text);
                List<ValidationMessage> messages = engine.module.last;
                if (messages == null) {
                    throw new IllegalStateException("the instance validator was not called");
                }
                for (ValidationMessage m : messages) {
                    issues.add(toIssue(m));
                }
            } catch (RuntimeException e) {
                // The engine could not even run on this input: report it as a fatal issue.
                ObjectNode i = issues.addObject();
                i.put("severity", "fatal");
                i.put("code", "exception");
                i.put("diagnostics", "referee: validation aborted: " + e.getClass().getSimpleName() + ": " + e.getMessage());
            }
            if (issues.isEmpty()) {
                // OperationOutcome.issue is 1..*: same wording as HAPI's ValidationResult.toOperationOutcome().
                ObjectNode i = issues.addObject();
                i.put("severity", "information");
                i.put("code", "informational");
                i.put("diagnostics", "No issues detected during validation");
            }
            return oo;
        }

        /**
         * org.hl7.fhir.validation 6.7.x, validating a StructureDefinition instance, iterates the "published core
         * versions" between min and max version ("5.0" for a 5.0.0 context), does not see "5.0" as its own
         * "5.0.0", and tries to load hl7.fhir.r5.core (no version) from the package cache or the web. Offline
         * that fails and the whole check is reported as ERROR_GENERATING_SNAPSHOT.
         */
        static boolean isOfflineCoreReloadDefect(ValidationMessage m) {
            String msg = m.getMessage();
            return "ERROR_GENERATING_SNAPSHOT".equals(m.getMessageId()) && msg != null
                    && msg.matches("(?s).*Unable to resolve package id hl7\\.fhir\\.r[0-9a-z]+\\.core#null.*");
        }

        /**
         * One engine message as an OperationOutcome.issue, in the shape HAPI's
         * ValidationResult.toOperationOutcome() uses (location = [path, "Line[l] Col[c]"], expression = [path],
         * line/col extensions), but keeping what HAPI drops: the engine's issue type as issue.code and its
         * message id (operationoutcome-message-id extension).
         */
        private ObjectNode toIssue(ValidationMessage m) {
            ObjectNode i = mapper.createObjectNode();
            ArrayNode ext = mapper.createArrayNode();
            if (m.getLine() > 0) {
                ext.addObject().put("url", "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line")
                        .put("valueInteger", m.getLine());
            }
            if (m.getCol() > 0) {
                ext.addObject().put("url", "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col")
                        .put("valueInteger", m.getCol());
            }
            if (m.getMessageId() != null && !m.getMessageId().isBlank()) {
                ext.addObject().put("url", "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id")
                        .put("valueString", m.getMessageId());
            }
            if (!ext.isEmpty()) {
                i.set("extension", ext);
            }
            String severity = m.getLevel() == null ? "error" : m.getLevel().toCode();
            String diagnostics = m.getMessage();
            if (isOfflineCoreReloadDefect(m)) {
                // See README: the engine asks for another copy of the core package to cross-check a
                // StructureDefinition against "other" FHIR versions, one of which is its own version.
                severity = "warning";
                diagnostics = "referee: StructureDefinition not fully checked (engine wants package "
                        + "hl7.fhir.*.core#null, i.e. its own core package again, which is not available offline): "
                        + diagnostics;
            }
            i.put("severity", severity);
            i.put("code", m.getType() == null || m.getType().toCode() == null ? "processing" : m.getType().toCode());
            if (m.hasSliceInfo()) {
                StringBuilder sb = new StringBuilder(diagnostics == null ? "" : diagnostics);
                for (ValidationMessage s : m.getSliceInfo()) {
                    sb.append("\n  slice: ").append(s.getMessage());
                }
                diagnostics = sb.toString();
            }
            if (diagnostics != null) {
                i.put("diagnostics", diagnostics);
            }
            String loc = m.getLocation();
            if (loc != null && !loc.isBlank()) {
                ArrayNode l = i.putArray("location");
                l.add(loc);
                if (m.getLine() > 0) {
                    l.add("Line[" + m.getLine() + "] Col[" + m.getCol() + "]");
                }
                i.putArray("expression").add(loc);
            }
            return i;
        }
    }

    /** Keeps the engine's own messages (with issue type and message id), which HAPI's bridge flattens. */
    static final class CapturingInstanceValidator extends FhirInstanceValidator {
        List<ValidationMessage> last;

        CapturingInstanceValidator(IValidationSupport support) {
            super(support);
        }

        @Override
        protected List<ValidationMessage> validate(ca.uhn.fhir.validation.IValidationContext<?> theCtx) {
            List<ValidationMessage> result = super.validate(theCtx);
            last = result;
            return result;
        }
    }

    static final class Engine {
        final FhirValidator validator;
        final CapturingInstanceValidator module;

        Engine(FhirValidator validator, CapturingInstanceValidator module) {
            this.validator = validator;
            this.module = module;
        }
    }

    private Main() {
    }
}
