"""Pure core: parsing, planning, status texts and manifests. No I/O, no clock, no SDKs."""
