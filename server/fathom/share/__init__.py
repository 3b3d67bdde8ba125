"""Sharing an index: a portable snapshot written once (`export`) and any
checkout seeded from it (`seed`), from a file or an http(s) URL (`download`)."""
