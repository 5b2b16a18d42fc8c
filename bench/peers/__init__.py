"""The systems people would pick instead of ipfeed, run on the same machine in the same bench:
Secure Scuttlebutt (ssb/, Node) and Nostr (nostr/, nostr-sdk), each as a script that prints
one line of JSON; `runner` runs and reads them, `rows` sets them beside ipfeed's figures."""
