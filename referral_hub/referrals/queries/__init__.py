"""The referrals feature's reads for its pages: one module per audience, each returning
frozen dataclasses (never a bare dict of anything), each scoped to the actor's own agency.

- `sent`: the sending agency's bundles as its intake workers follow them — the list of its
  latest bundles, the new-bundle form, one bundle and one of its referrals followed live
  (names next to ids, where to refer again), and the survivor's receipt.
- `dashboard`: the intake dashboard and a client's page — the bundles the agency sent, in
  the one order of what presses (in limbo, then urgency and deadline, then newest).
- `received`: the receiving agency's inbox (open and urgent first) and one referral as its
  receiver may see it now (her data, the note and the messages read through the audited
  services).
- `timeline`: a referral's timeline as a coordinator reads it (events with names, coded
  reasons only).

Reads only: every change is its service's (`referrals.service`, `bundles`, `assignment`,
`conversation`), which the pages, the API, the jobs and the CLI all call. These modules
may import their own feature's services and models and the features below; nothing in the
feature's services imports them.
"""
