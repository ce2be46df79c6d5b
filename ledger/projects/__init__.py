"""Projects and their reporting to funders (rendicontazione).

A project (lead organisation, partners, funders with their settings) has a
budget of lines x funding sources in versions approved by a second person;
its expenses are documents with a file, a proof of payment and allocation rows
that never exceed them, each a journal entry; money comes in as a funder's
advances, partners' contributions and the payouts of linked campaigns; volunteer
time (of the volunteers in the organisation's register) and in-kind are a
figurative layer kept out of cash. The report to a
funder (`report.funder_report`) is a data object the statements print.

Modules, top to bottom (import-linter checks the layers): `demo` (the demo
projects, through the use cases); `commands` (the use cases); `report` (the
report's data); `service` (organisations, projects, budgets), `expenses`,
`money_in`, `figurative` (the bookkeeping); `getters` (rows, the budget in
force, who may read what), `files` (uploads) and `volunteers` (the register of
volunteers, art. 17 c.1 CTS, whose periods gate volunteer hours); `accounts`,
`rules`, `models`, `errors` at the bottom.
"""
