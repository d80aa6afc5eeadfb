"""The dispatcher: claims due actions, asks the gate, hands allowed ones to the executor.

Any number of dispatchers may run on any number of hosts. The intent (state
``sending``) is committed before Instagram is called; a process that dies
after that leaves an action whose lease expires and whose outcome is then
reconciled against Instagram, never resent blindly.

- ``claim``: claim due actions and gate them, in one transaction (the verdicts
  and decisions written with the claim);
- ``sending``: the calls to Instagram, from a pool of sender threads
  (``Senders``), their outcomes on the ledger (``OutcomeWriter``) and, once per
  outcome, to the safety engine (``safety.services.action_outcome_observe``);
- ``recovery``: lapsed leases, and actions whose outcome is unknown reconciled
  against Instagram;
- ``loop``: one pass (``dispatch_once``) and the process's loop (``dispatcher_run``).
- ``wake``: idle dispatchers woken when work is planned due now (``wake_notify`` from the
  writers, a ``Waiter`` in the loop: PostgreSQL ``LISTEN/NOTIFY``), the poll kept as the fallback.

Tests and one-off runs call ``dispatch_once`` without senders: the same path,
with a pool of one sender working in the calling thread, flushed before it returns.
"""
