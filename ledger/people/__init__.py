"""People and users: personal data, credentials, roles, API tokens and TOTP.

Personal data (name, e-mail, codice fiscale, address) lives in `persons`, never
in the journal; the journal and the audit log refer to people by id. A `User`
is a person who can sign in: a password hash (Argon2id), roles, optional TOTP
and API tokens of which only a SHA-256 hash is stored.
"""
