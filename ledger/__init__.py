"""Community ledger: the domain, usable without a web application."""
