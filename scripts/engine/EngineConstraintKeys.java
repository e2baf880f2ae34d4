// Prints, as JSON, the constraint keys the HL7 engine would resolve ambiguously when it checks
// a StructureDefinition's differential (StructureDefinitionValidator.findInvariantInBase): after
// the base definition's snapshot it searches ContextUtilities.allBaseStructures(), the core
// specialisations in the order the worker context lists them, and the first constraint with the
// key wins. That order is a hash-map order of the validation support chain, not the package's
// file order, so it is read from the engine here, built the way scripts/referee builds it.
//
//   java -cp java/referee/target/referee.jar scripts/engine/EngineConstraintKeys.java R5|R4B|R4
//
// Output: {"validator": ..., "fhirVersion": ..., "keys": {key: [type, expression]}} for every key
// that more than one of those structures defines, or that has more than one expression among
// them: the type the engine meets first and its expression. Run by scripts/engine-constraint-keys.
import ca.uhn.fhir.context.FhirContext;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;
import org.hl7.fhir.r5.context.ContextUtilities;
import org.hl7.fhir.r5.context.IWorkerContext;
import org.hl7.fhir.r5.model.ElementDefinition;
import org.hl7.fhir.r5.model.StructureDefinition;

public class EngineConstraintKeys {
    public static void main(String[] args) throws Exception {
        FhirContext ctx = switch (args[0].toUpperCase()) {
            case "R5" -> FhirContext.forR5Cached();
            case "R4B" -> FhirContext.forR4BCached();
            case "R4" -> FhirContext.forR4Cached();
            default -> throw new IllegalArgumentException("R5, R4B or R4");
        };
        // The referee's own chain and validator module (package-private: reached by reflection).
        Class<?> main = Class.forName("org.ivigfhir.referee.Main");
        Class<?> referee = Class.forName("org.ivigfhir.referee.Main$Referee");
        Constructor<?> make = referee.getDeclaredConstructor(FhirContext.class, ObjectMapper.class,
                boolean.class, boolean.class, Map.class);
        make.setAccessible(true);
        ObjectMapper mapper = new ObjectMapper();
        Object r = make.newInstance(ctx, mapper, false, true, Map.of());
        Field shared = referee.getDeclaredField("sharedValidator");
        shared.setAccessible(true);
        Object engine = shared.get(r);
        Field module = engine.getClass().getDeclaredField("module");
        module.setAccessible(true);
        FhirInstanceValidator validator = (FhirInstanceValidator) module.get(engine);
        Method provide = FhirInstanceValidator.class.getDeclaredMethod("provideWorkerContext");
        provide.setAccessible(true);
        IWorkerContext worker = (IWorkerContext) provide.invoke(validator);

        Map<String, String[]> first = new LinkedHashMap<>();
        Map<String, Set<String>> types = new TreeMap<>();
        Map<String, Set<String>> expressions = new TreeMap<>();
        for (StructureDefinition sd : new ContextUtilities(worker).allBaseStructures()) {
            for (ElementDefinition ed : sd.getSnapshot().getElement()) {
                for (ElementDefinition.ElementDefinitionConstraintComponent inv : ed.getConstraint()) {
                    String key = inv.getKey();
                    String expr = inv.getExpression() == null ? "" : inv.getExpression();
                    first.putIfAbsent(key, new String[] {sd.getType(), expr});
                    types.computeIfAbsent(key, k -> new LinkedHashSet<>()).add(sd.getType());
                    expressions.computeIfAbsent(key, k -> new LinkedHashSet<>()).add(expr);
                }
            }
        }
        Method core = main.getDeclaredMethod("coreVersion");
        core.setAccessible(true);
        ObjectNode doc = mapper.createObjectNode();
        doc.put("fhirVersion", ctx.getVersion().getVersion().getFhirVersionString());
        doc.put("validator", "HAPI FHIR " + ca.uhn.fhir.util.VersionUtil.getVersion()
                + " FhirInstanceValidator (org.hl7.fhir.validation " + core.invoke(null) + ")");
        ObjectNode keys = doc.putObject("keys");
        for (String key : types.keySet()) {
            if (types.get(key).size() > 1 || expressions.get(key).size() > 1) {
                ArrayNode pair = keys.putArray(key);
                pair.add(first.get(key)[0]);
                pair.add(first.get(key)[1]);
            }
        }
        System.out.println(mapper.writeValueAsString(doc));
    }
}
