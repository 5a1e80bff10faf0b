"""The council's HTTP API (API.md, council): rounds and the monthly report."""
