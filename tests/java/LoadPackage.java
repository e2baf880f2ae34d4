// Loads a FHIR NPM package with HAPI's own package reader (org.hl7.fhir.utilities.npm, the one
// the HL7 validator and IG publisher use) and prints what it found as JSON lines:
//   {"name":..., "version":..., "fhirVersion":..., "dependencies":[...]}
//   {"type":..., "file":...}   one per resource the package's index lists
// Run with the referee's jar on the class path:  java -cp referee.jar LoadPackage.java FILE.tgz
import java.io.FileInputStream;
import java.io.InputStream;
import org.hl7.fhir.utilities.npm.NpmPackage;

public class LoadPackage {
    public static void main(String[] args) throws Exception {
        try (InputStream in = new FileInputStream(args[0])) {
            NpmPackage pkg = NpmPackage.fromPackage(in);
            System.out.println("{\"name\":\"" + pkg.name() + "\",\"version\":\"" + pkg.version()
                    + "\",\"fhirVersion\":\"" + pkg.fhirVersion() + "\",\"dependencies\":"
                    + quoted(pkg.dependencies()) + "}");
            for (java.util.Map.Entry<String, java.util.List<String>> e : pkg.getTypes().entrySet()) {
                String type = e.getKey();
                for (String file : e.getValue()) {
                    try (InputStream resource = pkg.loadResource(file)) {
                        resource.readAllBytes();
                    }
                    System.out.println("{\"type\":\"" + type + "\",\"file\":\"" + file + "\"}");
                }
            }
        }
    }

    private static String quoted(java.util.List<String> items) {
        StringBuilder out = new StringBuilder("[");
        for (String item : items) {
            out.append(out.length() > 1 ? "," : "").append('"').append(item).append('"');
        }
        return out.append(']').toString();
    }
}
