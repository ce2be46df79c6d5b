"""Reconcile: bank accounts and the statements imported into them.

`parsed` is what every statement parser hands over, `formats` the parsers by
format name, `statements` the importer (checks, identity, storage),
`commands` the use cases. Matching lines to the books comes later.
"""
