"""Funds: microgrant and revolving microcredit funds, calls for ideas, awards and loans.

- `service`: funds, money in, reservations (holds on the fund's no-overdraft
  cash), grant payments and returns, the fund's position; `accounts` lists each
  fund's accounts and entries; `models`, `errors`.
- `loans`: the pure loan mathematics (schedules, allocation, arrears, PAR,
  write-off and recovery amounts); `lending`: loan products, loans,
  disbursement, repayments, write-off, recovery; `portfolio`: loan states and
  PAR30 rebuilt from the stored rows.
- `calls`, `applications`, `reviews`, `awards` (and `call_models`,
  `call_errors`): calls for ideas, the committee and four-eyes awards;
  `call_commands`: their use cases (each act audited, repeatable ones keyed).
- `commands` (create a fund, money in) and `loan_commands` (loan products,
  loans granted, disbursed, cancelled, repaid, written off, recovered,
  overpayments paid back): the use cases pages, the API and the CLI call, each
  with its audit event and the one idempotency rule of `ledger.commands`.
- `demo_calls`, `demo_loans`: the demo's call for ideas and revolving fund.
"""
