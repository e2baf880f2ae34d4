from ivig_fhir.cli import main

main()
