"""ipfeed: a social feed of signed posts on your own IPFS node, named by your key in IPNS."""

from .errors import IpfeedError

__version__ = "0.1.0"
__all__ = ["IpfeedError", "__version__"]
