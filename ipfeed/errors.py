"""The one exception tree of ipfeed; every error a user can see is one of these.

    IpfeedError
    ├── InvalidInput (ValueError)      something the local user typed or passed is unusable
    ├── InvalidObject (ValueError)     data from elsewhere failed verification
    │   ├── InvalidBlock                bytes that are not canonical DAG-CBOR or not their CID
    │   ├── InvalidPost                 a post broke a rule of docs/FORMAT.md
    │   ├── InvalidRoot                 a feed root broke a rule of docs/FORMAT.md
    │   ├── InvalidFollows              a follow list broke a rule of docs/FORMAT.md
    │   └── ChainError                  posts that do not form the chain their root claims
    ├── IdentityError
    │   ├── MissingIdentity             no key in this home (run `ipfeed init`)
    │   └── InsecureKeyFile             the key file is readable by others
    ├── NodeError
    │   ├── KuboNotFound                no usable `ipfs` binary
    │   ├── NodeUnavailable             the Kubo RPC API cannot be reached
    │   ├── NodeTimeout                 the node did not answer in time
    │   └── NodeFailed                  the node answered with an error
    ├── NotFound                        a name or object could not be found
    ├── PublishPending                  a post is saved locally but not yet published
    └── AnotherHome                     another home publishes this feed with the same key
"""


class IpfeedError(Exception):
    """Root of every error ipfeed raises on purpose."""


class InvalidInput(IpfeedError, ValueError):
    """Local input (an argument, a file, a form field) is unusable."""


class InvalidObject(IpfeedError, ValueError):
    """Data from elsewhere failed verification."""


class InvalidBlock(InvalidObject):
    """A block is not canonical DAG-CBOR, too big, or does not match its CID."""


class InvalidPost(InvalidObject):
    """A post failed validation."""


class InvalidRoot(InvalidObject):
    """A feed root failed validation."""


class InvalidFollows(InvalidObject):
    """A follow list failed validation."""


class ChainError(InvalidObject):
    """Posts do not form the chain their feed root claims."""


class IdentityError(IpfeedError):
    """A problem with the local identity key."""


class MissingIdentity(IdentityError):
    """This home has no identity key."""


class InsecureKeyFile(IdentityError):
    """The identity key file can be read by other users."""


class NodeError(IpfeedError):
    """A problem with the Kubo node."""


class KuboNotFound(NodeError):
    """No usable Kubo binary was found."""


class NodeUnavailable(NodeError):
    """The Kubo RPC API cannot be reached."""


class NodeTimeout(NodeError):
    """The Kubo node did not answer in time."""


class NodeFailed(NodeError):
    """The Kubo node answered with an error."""


class NotFound(IpfeedError):
    """A name or object could not be found."""


class PublishPending(IpfeedError):
    """A post is safely saved locally but could not be published yet."""


class AnotherHome(IpfeedError):
    """The network's newest record for the user's own name points at a root this home did not
    sign: another home uses the same key, and publishing here would fork the feed."""
