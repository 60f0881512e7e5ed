"""The sync engine, one module per job of work.

* :mod:`.engine`: the facade, :class:`~.engine.SyncEngine` (the lock, the guards, the entry points);
* :mod:`.context`: what every part of a run shares (journal, orgs, events, states, stops, writes);
* :mod:`.sync_run`: the state of one sync, resync or retry run, shared by its two passes;
* :mod:`.first_pass`: read, match, transform, insert and update, object by object;
* :mod:`.second_pass`: the deferred lookups;
* :mod:`.rollback`: delete what a job inserted, restore what it updated;
* :mod:`.recovery`: what a crash left (Bulk jobs still running, create batches whose answer was lost).

``engine.runner`` re-exports the names other layers import.
"""
