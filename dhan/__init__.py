"""DhanHQ v2 wire layer: codes, typed errors, REST client, order-update socket client.

Used by the engine and shared (codes only) with the simulator in ``dhansim``.
"""
