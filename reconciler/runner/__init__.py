"""One run of the reconciler, between the face (the CLI) and the adapters.

* :mod:`.ports`: what a run needs from the world (Voice ID, S3 objects, the state store, a
  clock), as protocols that the adapters satisfy and that tests fake in memory;
* :mod:`.context`: :class:`~.context.Run`, one run as a value (state, store, adapters,
  options, clock, report), and the apply options and report;
* :mod:`.resolve`: names to ids against Voice ID and S3;
* :mod:`.observe`: the I/O half of observation (the policy is :mod:`reconciler.core.hold`);
* :mod:`.starts`: intents, staging, Start calls, results;
* :mod:`.apply`: the apply loop;
* :mod:`.usecases`: plan (offline and online), refresh, rebuild, failed requests;
* :mod:`.summary`: one run summary for the log event and the metrics;
* :mod:`.notify`: delivering job events to the sinks, once each;
* :mod:`.adopt`: ``import`` as a use-case.

Each use-case here that writes the state (apply, refresh, rebuild, ``import --write``) takes
the store's lock itself. ``state rm`` and ``mv`` are not here yet: the face
(:mod:`reconciler.cli.cmd_state`) takes the lock and writes the state for them.
"""
