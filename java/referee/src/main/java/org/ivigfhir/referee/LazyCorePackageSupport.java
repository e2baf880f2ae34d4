package org.ivigfhir.referee;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.parser.LenientErrorHandler;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.hl7.fhir.instance.model.api.IBaseResource;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.GZIPInputStream;

/**
 * The R5 core definitions (hl7.fhir.r5.core 5.0.0, hl7.fhir.uv.extensions.r5 1.0.0, hl7.terminology 5.1.0,
 * the same three NPM packages HAPI's hapi-fhir-validation-resources-r5 ships and its
 * DefaultProfileValidationSupport loads), served lazily.
 *
 * <p>HAPI's own support parses all ~7,000 resources of those packages up front, which costs about
 * 25-30 CPU seconds per JVM. This one reads the package index, keeps the raw JSON of the
 * StructureDefinitions, CodeSystems, ValueSets and SearchParameters, and parses a resource only when
 * the validator asks for it (all StructureDefinitions at once, since the engine wants the full list).
 * Narratives are dropped before parsing: the engine never reads them.
 *
 * <p>Look-up semantics follow HAPI's DefaultProfileValidationSupport: a canonical may carry
 * "|version"; the version is ignored for hl7.org and terminology.hl7.org canonicals and must match
 * otherwise; a bare type name ("Patient") or "Type/Name" is expanded to the core StructureDefinition URL.
 */
final class LazyCorePackageSupport implements IValidationSupport {

    static final String[] R5_PACKAGES = {
        "org/hl7/fhir/r5/packages/hl7.fhir.r5.core-5.0.0.tgz",
        "org/hl7/fhir/r5/packages/hl7.fhir.uv.extensions.r5-1.0.0.tgz",
        "org/hl7/fhir/r5/packages/hl7.terminology-5.1.0.tgz",
    };

    private static final Set<String> TYPES =
            Set.of("StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter");
    private static final String SD_PREFIX = "http://hl7.org/fhir/StructureDefinition/";
    private static final String BASE_PREFIX = "http://hl7.org/fhir/";

    /** One definition inside a package: where its JSON is and what it claims to be. */
    private static final class Item {
        final String type;
        final String url;
        final String version;
        byte[] json;
        IBaseResource parsed;

        Item(String type, String url, String version, byte[] json) {
            this.type = type;
            this.url = url;
            this.version = version;
            this.json = json;
        }
    }

    private final FhirContext ctx;
    private final String packageId;
    private final ObjectMapper mapper = new ObjectMapper();
    private final IParser parser;
    /** type -> url -> items (several only if a package carries more than one version). */
    private final Map<String, Map<String, List<Item>>> byTypeAndUrl = new HashMap<>();
    private final List<Item> all = new ArrayList<>();
    private List<IBaseResource> allStructureDefinitions;

    LazyCorePackageSupport(FhirContext ctx, String packageId, String... classpathPackages) {
        this.ctx = ctx;
        this.packageId = packageId;
        this.parser = ctx.newJsonParser();
        this.parser.setParserErrorHandler(new LenientErrorHandler(false));
        for (String t : TYPES) {
            byTypeAndUrl.put(t, new LinkedHashMap<>());
        }
        for (String p : classpathPackages) {
            try {
                index(p);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + p + " from the classpath", e);
            }
        }
    }

    private void index(String classpath) throws IOException {
        InputStream raw = LazyCorePackageSupport.class.getClassLoader().getResourceAsStream(classpath);
        if (raw == null) {
            throw new IOException("not found on the classpath (is hapi-fhir-validation-resources-r5 bundled?)");
        }
        Map<String, byte[]> files = new HashMap<>();
        byte[] indexJson = null;
        try (TarArchiveInputStream tar = new TarArchiveInputStream(new GZIPInputStream(raw, 1 << 16))) {
            TarArchiveEntry e;
            while ((e = tar.getNextEntry()) != null) {
                String name = e.getName();
                if (e.isDirectory() || !name.startsWith("package/") || name.indexOf('/', 8) >= 0) {
                    continue; // only top-level files of package/
                }
                String file = name.substring(8);
                if (file.equals(".index.json")) {
                    indexJson = tar.readAllBytes();
                } else if (file.endsWith(".json")) {
                    files.put(file, tar.readAllBytes());
                }
            }
        }
        if (indexJson == null) {
            throw new IOException("package has no .index.json");
        }
        for (JsonNode f : mapper.readTree(indexJson).path("files")) {
            String type = f.path("resourceType").asText("");
            String url = f.path("url").asText("");
            byte[] json = files.get(f.path("filename").asText(""));
            if (!TYPES.contains(type) || url.isEmpty() || json == null) {
                continue;
            }
            Item item = new Item(type, url, f.path("version").asText(null), json);
            byTypeAndUrl.get(type).computeIfAbsent(url, k -> new ArrayList<>()).add(item);
            all.add(item);
        }
    }

    private synchronized IBaseResource parse(Item item) {
        if (item.parsed == null) {
            try {
                JsonNode node = mapper.readTree(item.json);
                if (node instanceof ObjectNode) {
                    ((ObjectNode) node).remove("text");
                }
                IBaseResource res = parser.parseResource(mapper.writeValueAsString(node));
                res.setUserData(DefaultProfileValidationSupport.SOURCE_PACKAGE_ID, packageId);
                item.parsed = res;
                item.json = null;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return item.parsed;
    }

    private IBaseResource lookup(String type, String canonical) {
        if (canonical == null || canonical.isEmpty()) {
            return null;
        }
        String url = canonical;
        String version = null;
        int bar = canonical.indexOf('|');
        if (bar > 0) {
            url = canonical.substring(0, bar);
            version = canonical.substring(bar + 1);
        }
        List<Item> items = byTypeAndUrl.get(type).get(url);
        if (items == null || items.isEmpty()) {
            return null;
        }
        if (version != null && !version.isEmpty()) {
            for (Item i : items) {
                if (version.equals(i.version)) {
                    return parse(i);
                }
            }
            if (!url.startsWith("http://hl7.org") && !url.startsWith("http://terminology.hl7.org")) {
                return null;
            }
        }
        return parse(items.get(items.size() - 1));
    }

    @Override
    public FhirContext getFhirContext() {
        return ctx;
    }

    @Override
    public String getName() {
        return "ivig-fhir referee lazy " + packageId + " support";
    }

    @Override
    public IBaseResource fetchStructureDefinition(String theUrl) {
        String url = theUrl;
        if (url != null && !url.startsWith(SD_PREFIX)) {
            long slashes = url.chars().filter(c -> c == '/').count();
            if (slashes == 0) {
                url = SD_PREFIX + url;
            } else if (slashes == 1) {
                url = BASE_PREFIX + url;
            }
        }
        return lookup("StructureDefinition", url);
    }

    @Override
    public IBaseResource fetchCodeSystem(String theSystem) {
        return lookup("CodeSystem", theSystem);
    }

    @Override
    public IBaseResource fetchValueSet(String theValueSetUrl) {
        return lookup("ValueSet", theValueSetUrl);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends IBaseResource> T fetchResource(Class<T> theClass, String theUri) {
        String type = theClass == null ? null : ctx.getResourceType(theClass);
        if (type == null || !TYPES.contains(type)) {
            return null;
        }
        if (type.equals("StructureDefinition")) {
            return (T) fetchStructureDefinition(theUri);
        }
        return (T) lookup(type, theUri);
    }

    @Override
    @SuppressWarnings("unchecked")
    public synchronized <T extends IBaseResource> List<T> fetchAllStructureDefinitions() {
        if (allStructureDefinitions == null) {
            List<IBaseResource> list = new ArrayList<>();
            for (List<Item> items : byTypeAndUrl.get("StructureDefinition").values()) {
                list.add(parse(items.get(items.size() - 1)));
            }
            allStructureDefinitions = List.copyOf(list);
        }
        return (List<T>) allStructureDefinitions;
    }

    @Override
    public <T extends IBaseResource> List<T> fetchAllNonBaseStructureDefinitions() {
        return null; // everything here is base / HL7 content, as HAPI's own default support says
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends IBaseResource> List<T> fetchAllSearchParameters() {
        List<IBaseResource> list = new ArrayList<>();
        for (List<Item> items : byTypeAndUrl.get("SearchParameter").values()) {
            list.add(parse(items.get(items.size() - 1)));
        }
        return (List<T>) list;
    }

    @Override
    public List<IBaseResource> fetchAllConformanceResources() {
        List<IBaseResource> list = new ArrayList<>();
        for (Item i : all) {
            list.add(parse(i));
        }
        return list;
    }

    int size() {
        return all.size();
    }
}
