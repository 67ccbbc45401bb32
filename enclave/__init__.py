"""The TEE mode's trusted application, its Gramine manifest, measurement tool, loader and host (docs/tee.md).

Inside the enclave (``app``, ``train``): open the slices whose keys the owners released, join them on the
aligned ids, train in plaintext, seal each owner's agreed outputs back under its own data key. Outside
(``host``): carry evidence, sealed slices and wrapped keys over the signed Kafka channel. ``measure`` hashes
exactly the files the manifest names; ``loader`` refuses to start the app if one differs.
"""
