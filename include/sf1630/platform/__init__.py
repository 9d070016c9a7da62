"""A local emulator of Serviceplatformen's SFTP service, so senders and receivers can be tested end to end.

The real platform is only reachable with KOMBIT agreements; the emulator reproduces what SF1630 relies on:
per-user chrooted SFTP folders, trigger-driven routing with receipts and metadata, crash-safe delivery, and
the 30-day retention with warning mails. Modules: :mod:`config` (the registry), :mod:`server` (SFTP),
:mod:`router` (validation and delivery), :mod:`journal` (crash safety), :mod:`retention`, :mod:`mail`,
:mod:`errorcodes` (the stable receipt codes), :mod:`audit` and :mod:`cli`.
"""
