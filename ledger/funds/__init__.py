"""Funds: microgrant and revolving microcredit funds, calls for ideas, awards and loans.

So far only the pure loan mathematics lives here (`ledger.funds.loans`: schedules,
repayment allocation, arrears, portfolio at risk, write-off and recovery amounts);
the fund accounts, calls, applications and their services follow in issue 6.
"""
