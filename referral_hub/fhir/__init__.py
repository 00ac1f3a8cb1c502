"""FHIR R4 (SDOH Clinical Care) interface under /fhir: mapping only, over the hub's services."""
