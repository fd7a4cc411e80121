"""The demo's past: a week of history seeded before the live fleet starts.

What a control room that has run for a week holds — samples, alerts and tickets in every
state, inspections done and overdue, signed 08:30 logs, complaints, users — made through
the same code paths the live service and the people using it take, at past instants:

| module | what it makes |
|---|---|
| `people.py` | one user per role and a customer-scoped viewer; the table of their logins |
| `series.py` | normal samples: the simulators' models every 5 min, at the poll interval where the logs count |
| `episodes.py` | faults at past instants: the simulators' models with the fault, judged by the real rules engine |
| `stories.py` | the week's faults and what people did about each ticket |
| `moves.py` | those moves made through the ticket workflow, and the customers' complaints |
| `records.py` | inspection rounds (their doors opening), a rain, the 08:30 logs |
| `timeline.py` | replays everything that touches the database in time order, with the deadlines kept |
| `seed.py` | `seed_history`: the order of it all, and how long each part took |
"""
