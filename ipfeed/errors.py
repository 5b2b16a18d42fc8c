"""The one exception tree of ipfeed; every error a user can see is one of these.

    IpfeedError
    ├── InvalidInput (ValueError)      something the local user typed or passed is unusable
    ├── InvalidObject (ValueError)     data from elsewhere failed verification
    │   ├── InvalidBlock                bytes that are not canonical DAG-CBOR or not their CID
    │   ├── InvalidPost                 a post broke a rule of docs/FORMAT.md
    │   ├── InvalidEntry                a chain entry (format v2) broke a rule of docs/FORMAT.md
    │   ├── InvalidContent              a content block (format v2) broke a rule of docs/FORMAT.md
    │   ├── InvalidContents             a contents or part block broke a rule of docs/FORMAT.md
    │   ├── NewerFormat                 an object of a newer format version: upgrade ipfeed
    │   ├── InvalidRoot                 a feed root broke a rule of docs/FORMAT.md
    │   ├── InvalidFollows              a follow list broke a rule of docs/FORMAT.md
    │   ├── InvalidModeration           sealed mute and block lists that are broken or not yours
    │   ├── InvalidRecord               an IPNS record that does not verify
    │   ├── InvalidArchive              an archive that is damaged, incomplete or not what it claims
    │   ├── InvalidNotice               a notice or inbox request that broke a rule of docs/FORMAT.md
    │   ├── Rollback                    a root or record older than the one already verified
    │   ├── Equivocation                two roots with one author and sequence number
    │   └── ChainError                  posts that do not form the chain their root claims
    │       └── Fork                    two posts with one author and sequence number
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
    ├── HomeError                       this home's own files cannot be used as they are
    │   ├── NewerSchema                 a database written by a newer ipfeed
    │   ├── FeedLocked                  another ipfeed process holds the feed's writer lock
    │   └── OutboxDamaged               the outbox lacks or contradicts what it must hold
    ├── WouldFork                       going on would fork the user's own feed
    │   ├── AnotherHome                 another home publishes this feed with the same key
    │   └── FeedNotAdopted              a restored key whose feed the network does not offer now
    ├── AuthError                       a device or a request failed authentication (section 17)
    │   ├── NotPaired                   no valid device credential or pairing code (401)
    │   ├── Revoked                     the device's credential was revoked (403)
    │   └── RateLimited                 too many failed tries: refused for a while (429)
    └── RemoteError                     this device's home server refused or could not be reached
        └── RemoteUnreachable           the home server cannot be reached now (posts wait)

Where a class used to live (sync.Fork, ipns.InvalidRecord, archive.InvalidArchive, …), that
module still imports it, so the old names keep working.
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


class InvalidNotice(InvalidObject):
    """A notice or inbox request broke a rule of docs/FORMAT.md section 15."""


class InvalidEntry(InvalidObject):
    """A chain entry (ipfeed.entry, format v2) failed validation."""


class InvalidContent(InvalidObject):
    """A content block (ipfeed.content, format v2) failed validation."""


class InvalidContents(InvalidObject):
    """A contents or part block (the live-content tree of a v2 root) failed validation."""


class NewerFormat(InvalidObject):
    """An object declares a format version newer than this ipfeed reads: upgrade ipfeed."""


class InvalidRoot(InvalidObject):
    """A feed root failed validation."""


class InvalidFollows(InvalidObject):
    """A follow list failed validation."""


class InvalidModeration(InvalidObject):
    """Sealed mute and block lists broke a rule of docs/FORMAT.md or are not sealed to this key."""


class InvalidRecord(InvalidObject):
    """An IPNS record failed verification."""


class InvalidArchive(InvalidObject):
    """An archive is damaged, incomplete or not what it claims to be."""


class Rollback(InvalidObject):
    """A feed offered a root or record older than the one already verified."""


class Equivocation(InvalidObject):
    """Two different roots with the same author and sequence number."""


class ChainError(InvalidObject):
    """Posts do not form the chain their feed root claims."""


class Fork(ChainError):
    """Two different posts with the same author and sequence number."""


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


class HomeError(IpfeedError):
    """This home's own files (outbox, index, lock) cannot be used as they are."""


class NewerSchema(HomeError):
    """A database of this home was written by a newer ipfeed."""


class FeedLocked(HomeError):
    """Another ipfeed process holds this feed's writer lock."""


class OutboxDamaged(HomeError):
    """The outbox lacks or contradicts something it must hold."""


class WouldFork(IpfeedError):
    """Going on would fork the user's own feed, so nothing was signed or changed."""


class FeedNotAdopted(WouldFork):
    """A restored key's feed is not on the network now, and a new chain could fork it."""


class AnotherHome(WouldFork):
    """The network's newest record for the user's own name points at a root this home did not
    sign: another home uses the same key, and publishing here would fork the feed."""


class AuthError(IpfeedError):
    """A device or a request failed authentication."""


class NotPaired(AuthError):
    """No valid device credential, or a wrong or expired pairing code."""


class Revoked(AuthError):
    """The device's credential was revoked on the home server."""


class RateLimited(AuthError):
    """Too many failed pairing or login tries: refused for a while."""


class RemoteError(IpfeedError):
    """This device's home server refused a request, or answered something unusable."""


class RemoteUnreachable(RemoteError):
    """The home server cannot be reached now (a post waits in the device's outbox)."""
