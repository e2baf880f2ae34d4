"""Output formats, the run manifest and `build --check`, through the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from fhir.resources.bundle import Bundle
from typer.testing import CliRunner

from ivig_fhir.cli import app

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "source_data"
ALL = ["transaction", "batch", "collection", "ndjson", "package"]
runner = CliRunner()


def _build(out: Path, *formats: str) -> None:
    args = ["build", "--source", str(SOURCE), "--out", str(out)]
    for f in formats:
        args += ["--format", f]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def _keys(resources: list[dict]) -> list[str]:
    return sorted(f"{r['resourceType']}/{r['id']}" for r in resources)


def test_every_format_holds_every_resource_of_the_export(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _build(out, *ALL)
    transaction = json.loads((out / "ivig-fhir-bundle.json").read_text())
    expected = _keys([e["resource"] for e in transaction["entry"]])
    assert len(expected) == len(set(expected)) > 200

    for name, kind in (("ivig-fhir-batch.json", "batch"),
                       ("ivig-fhir-collection.json", "collection")):
        bundle = json.loads((out / name).read_text())
        Bundle.model_validate(bundle)
        assert bundle["type"] == kind
        assert [e["fullUrl"] for e in bundle["entry"]] == [
            e["fullUrl"] for e in transaction["entry"]]
        assert [e["resource"] for e in bundle["entry"]] == [
            e["resource"] for e in transaction["entry"]]
        requests = [e.get("request") for e in bundle["entry"]]
        if kind == "batch":
            assert requests == [e["request"] for e in transaction["entry"]]
        else:
            assert requests == [None] * len(requests)

    manifest = json.loads((out / "bulk-import-manifest.json").read_text())
    assert manifest["inputFormat"] == "application/fhir+ndjson"
    assert manifest["inputSource"] == "https://ivig-fhir.org/fhir"
    ndjson: list[dict] = []
    for item in manifest["input"]:
        lines = (out / item["url"]).read_text().splitlines()
        rows = [json.loads(line) for line in lines]
        assert {r["resourceType"] for r in rows} == {item["type"]}
        assert [r["id"] for r in rows] == sorted(r["id"] for r in rows)
        ndjson += rows
    assert sorted(f"ndjson/{p.name}" for p in (out / "ndjson").iterdir()) == sorted(
        i["url"] for i in manifest["input"])
    assert _keys(ndjson) == expected

    with tarfile.open(out / "ivig-fhir-package.tgz", "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    package = json.loads(members.pop("package/package.json"))
    assert package["name"] == "org.ivig-fhir.ivig"
    assert package["version"] == "1.0.0"
    assert package["fhirVersions"] == ["5.0.0"]
    assert package["dependencies"] == {"hl7.fhir.r5.core": "5.0.0"}
    assert package["canonical"] == "https://ivig-fhir.org/fhir"
    index = json.loads(members.pop("package/.index.json"))
    assert index["index-version"] == 2
    resources = {name: json.loads(data) for name, data in members.items()}
    assert _keys(list(resources.values())) == expected
    assert sorted(f"package/{f['filename']}" for f in index["files"]) == sorted(resources)
    for entry in index["files"]:
        resource = resources[f"package/{entry['filename']}"]
        assert entry["filename"] == f"{resource['resourceType']}-{resource['id']}.json"
        assert (entry["resourceType"], entry["id"]) == (resource["resourceType"], resource["id"])
        assert entry.get("url") == resource.get("url")
        assert entry.get("version") == resource.get("version")
    extension = next(f for f in index["files"] if f["resourceType"] == "StructureDefinition")
    assert (extension["kind"], extension["type"]) == ("complex-type", "Extension")
    code_systems = [r for r in resources.values() if r["resourceType"] == "CodeSystem"]
    assert code_systems and all(r["version"] == "1.0.0" for r in code_systems)


def test_two_builds_of_every_format_are_byte_identical(tmp_path: Path) -> None:
    _build(tmp_path / "a", *ALL)
    _build(tmp_path / "b", *ALL)
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*")
         if p.is_file()}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*")
         if p.is_file()}
    assert a == b
    with tarfile.open(tmp_path / "a" / "ivig-fhir-package.tgz", "r:gz") as tar:
        assert {(m.mtime, m.uid, m.gid, m.uname) for m in tar.getmembers()} == {(0, 0, 0, "")}
    assert (tmp_path / "a" / "ivig-fhir-package.tgz").read_bytes()[4:8] == b"\0\0\0\0"


def test_manifest_records_release_options_and_every_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _build(out, "transaction", "ndjson")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["release"]["contentVersion"] == "1.0.0"
    assert manifest["fhirVersion"] == "5.0.0"
    assert manifest["options"]["formats"] == ["transaction", "ndjson"]
    on_disk = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
               if p.is_file() and p.name != "manifest.json"}
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        name: hashlib.sha256(data).hexdigest() for name, data in on_disk.items()}


def test_provenance_names_the_content_release(tmp_path: Path) -> None:
    _build(tmp_path / "out")
    bundle = json.loads((tmp_path / "out" / "ivig-fhir-bundle.json").read_text())
    provenances = [e["resource"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Provenance"]
    assert provenances
    for provenance in provenances:
        assert {"system": "https://ivig-fhir.org/fhir/identifier/content-release",
                "value": "1.0.0"} in [e["what"].get("identifier") for e in provenance["entity"]]


def test_unknown_format_is_bad_usage(tmp_path: Path) -> None:
    result = runner.invoke(app, ["build", "--out", str(tmp_path / "o"), "--format", "xml"])
    assert result.exit_code == 2
    assert "xml" in result.output and "transaction" in result.output
    assert not (tmp_path / "o").exists()


def test_check_passes_on_the_checked_in_output() -> None:
    result = runner.invoke(app, ["build", "--check", "--source", str(SOURCE),
                                 "--out", str(ROOT / "output")])
    assert result.exit_code == 0, result.output


def test_check_names_every_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "output"
    _build(out, "transaction", "ndjson")
    check = ["build", "--check", "--source", str(SOURCE), "--out", str(out)]
    assert runner.invoke(app, check).exit_code == 0  # formats come from the manifest

    bundle = out / "ivig-fhir-bundle.json"
    text = bundle.read_text()
    assert '"value": 0.4' in text
    bundle.write_text(text.replace('"value": 0.4', '"value": 0.5', 1))
    (out / "ndjson" / "Group.ndjson").unlink()
    (out / "notes.txt").write_text("stray")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    result = runner.invoke(app, check)
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines()
             if line.startswith(str(out)) and line.endswith((": differs", ": missing", ": extra"))]
    assert lines == [f"{out}/ivig-fhir-bundle.json: differs",
                     f"{out}/ndjson/Group.ndjson: missing",
                     f"{out}/notes.txt: extra"]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_check_on_a_copy_of_the_checked_in_output_fails_after_an_edit(tmp_path: Path) -> None:
    out = tmp_path / "output"
    shutil.copytree(ROOT / "output", out)
    manifest = out / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"1.0.0"', b'"1.0.1"', 1))
    result = runner.invoke(app, ["build", "--check", "--source", str(SOURCE), "--out", str(out)])
    assert result.exit_code == 1
    assert f"{out}/manifest.json: differs" in result.output
    assert result.output.count(": differs") == 1


def test_ndjson_base_url_is_recorded_and_the_ndjson_folder_validates(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["build", "--source", str(SOURCE), "--out", str(out),
                                 "--format", "ndjson",
                                 "--ndjson-base-url", "https://files.example.org/ivig/"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "bulk-import-manifest.json").read_text())
    assert {i["url"] for i in manifest["input"]} == {
        f"https://files.example.org/ivig/ndjson/{p.name}" for p in (out / "ndjson").iterdir()}
    check = runner.invoke(app, ["build", "--check", "--source", str(SOURCE), "--out", str(out)])
    assert check.exit_code == 0, check.output
    valid = runner.invoke(app, ["validate", str(out / "ndjson")])
    assert valid.exit_code == 0, valid.output


@pytest.mark.java
def test_hapi_package_reader_loads_the_package(tmp_path: Path) -> None:
    """The package as FHIR tooling reads it: HAPI's NpmPackage (used by the HL7 validator and
    the IG publisher) takes its name, version, FHIR version and dependencies from package.json
    and lists every resource from .index.json."""
    out = tmp_path / "out"
    _build(out, "transaction", "package")
    subprocess.run([str(ROOT / "scripts" / "referee"), "--help"], check=True,
                   capture_output=True)  # builds the referee jar, which carries HAPI
    loaded = subprocess.run(
        ["java", "-cp", str(ROOT / "java" / "referee" / "target" / "referee.jar"),
         str(ROOT / "tests" / "java" / "LoadPackage.java"), str(out / "ivig-fhir-package.tgz")],
        check=True, capture_output=True, text=True, timeout=300)
    header, *rows = (json.loads(line) for line in loaded.stdout.splitlines())
    assert header == {"name": "org.ivig-fhir.ivig", "version": "1.0.0", "fhirVersion": "5.0.0",
                      "dependencies": ["hl7.fhir.r5.core#5.0.0"]}
    bundle = json.loads((out / "ivig-fhir-bundle.json").read_text())
    assert sorted((r["type"], r["file"]) for r in rows) == sorted(
        (e["resource"]["resourceType"],
         f"{e['resource']['resourceType']}-{e['resource']['id']}.json") for e in bundle["entry"])


@pytest.mark.parametrize("data", [
    json.loads((ROOT / "output" / "ivig-fhir-bundle.json").read_text(encoding="utf-8")),
    {"a": {}, "b": [], "c": [[], {}, [1, [2.5, {"d": None}]]], "e": True, "f": False,
     "g": -0.0, "h": 1e-07, "i": 12345678901234567890, "j": "tab\t \"q\" \\ é \u2028 \x7f 😀",
     "k": ("tu", "ple"), "l": [True, None, 3, "s"]},
    [], {}, "x", 3, None,
    {1: "an int key", "nested": {None: 2.0, True: "a bool key"}},  # json.dumps' own way
], ids=["export", "every-kind", "empty-list", "empty-object", "string", "int", "null",
        "non-string-keys"])
def test_dumps_writes_what_json_dumps_writes(data: object) -> None:
    from ivig_fhir.bundle import dumps

    assert dumps(data) == (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_dumps_refuses_numbers_json_does_not_have(number: float) -> None:
    from ivig_fhir.bundle import dumps

    with pytest.raises(ValueError, match="Out of range float"):
        dumps({"resource": {"value": [1, number]}})
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"value": {1, 2}})


def test_the_formats_leave_the_transaction_bundle_as_it_was() -> None:
    """The batch and collection share the transaction Bundle's resources: no writer may
    change them (a collection drops `request` from its own entries only)."""
    import copy

    from ivig_fhir import pipeline
    from ivig_fhir.formats import FORMATS, Export, write_formats

    settings = pipeline.BuildSettings(SOURCE, ROOT / "unused")
    curated, _ = pipeline.load_checked(settings)
    bundle = pipeline.build_bundle(curated, pipeline.map_curated(curated))
    before = copy.deepcopy(bundle)
    export = Export(bundle, curated.release, "5.0.0")
    files = write_formats(export, tuple(FORMATS))
    assert bundle == before
    collection = json.loads(files["ivig-fhir-collection.json"])
    assert not any("request" in e for e in collection["entry"])
    assert [e["resource"] for e in collection["entry"]] == [e["resource"] for e in
                                                             before["entry"]]
