"""The only module that calls AWS APIs (EC2, EKS, STS). Maps botocore errors into domain errors."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from functools import cache, cached_property, partial
from typing import Any, ClassVar, TypeAlias, TypeVar

import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
)
from botocore.session import Session

from registrar.adapters.token_bucket import TokenBucket
from registrar.core import tags as t
from registrar.core.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    ProtocolError,
    RegistrarError,
    RejectedError,
    TransientError,
    UnauthorizedError,
)
from registrar.core.events import TagsSet, VolumeCreated, parse_event
from registrar.core.models import ClusterInfo, VolumeFacts
from registrar.core.work import WorkItem

# Adaptive retries absorb throttling (EC2's RequestLimitExceeded, CloudTrail's
# ThrottlingException): botocore retries both with jittered exponential backoff and slows its
# own sending rate after one, as "Request throttling for the Amazon EC2 API" (Retries and
# exponential backoff) asks. Timeouts keep a stuck call from eating the Lambda.
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=15,
    retries={"mode": "adaptive", "max_attempts": 5},
)

_NOT_FOUND = {"InvalidVolume.NotFound", "ResourceNotFoundException", "NotFoundException"}
_FORBIDDEN = {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"}
_TRANSIENT = {
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ServiceUnavailable",
    "Unavailable",
    "InternalError",
    "InternalFailure",
    "ServerException",
}
_INVALID = {"InvalidParameterValue", "InvalidVolumeID.Malformed", "InvalidParameterException"}

T = TypeVar("T")
log = logging.getLogger(__name__)
# AWS operations by service, declared beside the code that calls them: the Lambda asset's
# botocore keeps only these (asset/trim.py reads every AWS_OPERATIONS in the package).
Operations = Mapping[str, tuple[str, ...]]
EXISTING_BATCH = 200  # values per DescribeVolumes filter, or volume ids per call
PAGE_SIZE = 500  # DescribeVolumes' largest MaxResults
LOOKUP_PAGES = 10  # LookupEvents pages (50 events each) searched for one volume's tag writers
LOOKUP_BUDGET = 20  # LookupEvents calls per LOOKUP_WINDOW_S, whatever the volumes
LOOKUP_WINDOW_S = 60.0  # the budget refills over this long
LOOKUP_SHARE_S = 5.0  # a volume's walk answers again for this long (a batch, a duplicate)
LOOKUP_RATE = 2.0  # LookupEvents calls a second: CloudTrail's limit per account and region
# A volume just created may answer InvalidVolume.NotFound for a while ("Eventual consistency in
# the Amazon EC2 API": describe again with exponential backoff): the waits before each retry.
SETTLE_DELAYS_S = (0.25, 0.5, 1.0, 2.0)


# A session, or a function that gives one (lazy_session): what the gateways are built with.
LazySession: TypeAlias = Callable[[], Session]
SessionSource: TypeAlias = Session | LazySession


def new_session() -> Session:
    """Each new session costs ~25 ms (it registers ~360 event handlers): share one per
    registrar. Clients are thread-safe; sessions are not (botocore's guidance)."""
    return botocore.session.get_session()


def lazy_session() -> LazySession:
    """One session, made when the first client or credential needs it: an event that calls no
    AWS API (an ignored one) never pays for it."""
    return cache(new_session)


def _session(source: SessionSource | None) -> Session:
    if source is None:
        return new_session()
    return source() if callable(source) else source


def _client(
    service: str,
    region: str | None,
    session: SessionSource | None,
    config: Config = CLIENT_CONFIG,
) -> Any:
    """A botocore client (what boto3.client does), without boto3, whose import costs ~0.1 s
    (s3transfer) for nothing the registrar uses; from a fresh session unless given one."""
    return _session(session).create_client(service, region_name=region, config=config)


def call_aws(what: str, call: Callable[[], T]) -> T:
    """Run one AWS call; every failure leaves as a domain error that says if a retry helps."""
    try:
        return call()
    except ClientError as error:
        raise domain_error(what, error) from error
    except NoCredentialsError as error:
        raise UnauthorizedError(f"{what}: no AWS credentials found") from error
    except (ConnectionError, HTTPClientError) as error:
        raise TransientError(f"{what}: {type(error).__name__}") from error
    except BotoCoreError as error:
        raise TransientError(f"{what}: {error}") from error


def domain_error(what: str, error: ClientError) -> RegistrarError:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    message = f"{what}: {code}"
    if code in _NOT_FOUND or status == 404:
        return NotFoundError(f"{what}: not found ({code})")
    if code in _FORBIDDEN or status == 403:
        return ForbiddenError(message)
    if code in _INVALID:
        return RejectedError(what, code)
    if code in _TRANSIENT or status >= 500 or status == 429:
        return TransientError(message)
    return ProtocolError(message)


class Ec2Volumes:
    """DescribeVolumes and the status tags, in one region. Implements VolumeReader/VolumeTagger.

    Every listing is read to its last page: EC2 may answer fewer items than MaxResults, even
    none, with a NextToken ("Pagination in the Amazon EC2 API"); only a missing NextToken ends
    it."""

    AWS_OPERATIONS: ClassVar[Operations] = {"ec2": ("DescribeVolumes", "CreateTags", "DeleteTags")}

    def __init__(
        self,
        region: str,
        session: SessionSource | None = None,
        config: Config = CLIENT_CONFIG,
        *,
        settle_delays: tuple[float, ...] = SETTLE_DELAYS_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._region, self._session, self._config = region, session, config
        self._settle_delays, self._sleep = settle_delays, sleep

    @cached_property
    def _ec2(self) -> Any:
        """Built on first use: an ignored event never pays for the client (~10 ms)."""
        return _client("ec2", self._region, self._session, self._config)

    def describe_volume(self, volume_id: str) -> VolumeFacts:
        """NotFoundError only once InvalidVolume.NotFound has lasted through the settle delays:
        a volume just created is not visible to every call at once."""
        for delay in self._settle_delays:
            with contextlib.suppress(NotFoundError):
                return self._described(volume_id)
            self._sleep(delay)
        return self._described(volume_id)

    def _described(self, volume_id: str) -> VolumeFacts:
        response = call_aws(
            f"DescribeVolumes {volume_id}",
            lambda: self._ec2.describe_volumes(VolumeIds=[volume_id]),
        )
        volumes = response.get("Volumes", [])
        if not volumes:
            raise NotFoundError(f"volume {volume_id} not found")
        return facts_from_description(volumes[0])

    def tagged_volumes(self) -> Iterator[VolumeFacts]:
        """Every volume carrying the k8s-pv tag key, in pages of the largest size EC2 allows."""
        filters = [{"Name": "tag-key", "Values": [t.PV_TAG]}]
        for page in self._pages("DescribeVolumes", Filters=filters):
            yield from (facts_from_description(v) for v in page.get("Volumes", []))

    def existing_ids(self, volume_ids: Iterable[str]) -> set[str]:
        """The ids a listing shows (a volume-id filter, unlike VolumeIds, does not fail the call
        for a missing volume). Not a proof of absence: a volume may be missing from a listing
        for a while; `missing_ids` is."""
        ids, found = sorted(set(volume_ids)), set[str]()
        for start in range(0, len(ids), EXISTING_BATCH):
            filters = [{"Name": "volume-id", "Values": ids[start : start + EXISTING_BATCH]}]
            for page in self._pages("DescribeVolumes", Filters=filters):
                found |= {str(v["VolumeId"]) for v in page.get("Volumes", [])}
        return found

    def missing_ids(self, volume_ids: Iterable[str]) -> set[str]:
        """The ids EC2 says do not exist: DescribeVolumes of those very ids answers
        InvalidVolume.NotFound. One call per batch when all exist; a batch that fails is halved
        until each missing id has failed alone. A volume created seconds ago can fail too
        (eventual consistency): ask only about volumes seen before."""
        ids, missing = sorted(set(volume_ids)), set[str]()
        batches = [ids[i : i + EXISTING_BATCH] for i in range(0, len(ids), EXISTING_BATCH)]
        while batches:
            batch = batches.pop()
            try:
                call_aws("DescribeVolumes", partial(self._ec2.describe_volumes, VolumeIds=batch))
            except NotFoundError:
                if len(batch) == 1:
                    missing.add(batch[0])
                else:
                    half = len(batch) // 2
                    batches += [batch[:half], batch[half:]]
        return missing

    def write_status(self, volume_id: str, tags: Mapping[str, str]) -> None:
        pairs = [{"Key": key, "Value": value} for key, value in tags.items()]
        call_aws(
            f"CreateTags {volume_id}",
            lambda: self._ec2.create_tags(Resources=[volume_id], Tags=pairs),
        )

    def remove_tags(self, volume_id: str, keys: Collection[str]) -> None:
        pairs = [{"Key": key} for key in keys]  # no Value: the key goes whatever its value
        call_aws(
            f"DeleteTags {volume_id}",
            lambda: self._ec2.delete_tags(Resources=[volume_id], Tags=pairs),
        )

    def _pages(self, operation: str, **request: Any) -> Iterator[dict[str, Any]]:
        """botocore's paginator: it follows NextToken to the end, through short and empty
        pages; each page's failure leaves as a domain error."""
        paginator = self._ec2.get_paginator(_snake(operation))
        pages = iter(paginator.paginate(**request, PaginationConfig={"PageSize": PAGE_SIZE}))
        while True:
            page = call_aws(operation, lambda: next(pages, None))
            if page is None:
                return
            yield page


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def facts_from_description(volume: dict[str, Any]) -> VolumeFacts:
    """A DescribeVolumes entry as VolumeFacts."""
    return VolumeFacts(
        volume_id=str(volume["VolumeId"]),
        size_gib=int(volume.get("Size", 0)),
        availability_zone=str(volume.get("AvailabilityZone", "")),
        volume_type=str(volume.get("VolumeType", "")),
        multi_attach=bool(volume.get("MultiAttachEnabled", False)),
        tags={str(tag["Key"]): str(tag.get("Value", "")) for tag in volume.get("Tags", [])},
        state=str(volume.get("State", "available")),
        attached_to=tuple(
            str(a["InstanceId"])
            for a in volume.get("Attachments", [])
            if a.get("InstanceId") and a.get("State") != "detached"
        ),
    )


# assume_role_credentials' call. (The EKS token is a presigned GetCallerIdentity URL signed
# without the STS model: eks_token.py.)
AWS_OPERATIONS: Operations = {"sts": ("AssumeRole",)}
# awscli's `eks get-token --role-arn` uses this session name; CloudTrail readers know it.
ROLE_SESSION_NAME = "EKSGetTokenAuth"


class _RedactSecretBodies(logging.Filter):
    """botocore logs whole response bodies at DEBUG: keep the cluster CA and assumed-role
    credentials out of them."""

    MARKERS = (b'"certificateAuthority"', b"<SecretAccessKey>", b'"SecretAccessKey"')

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            body = record.args[0]
            if isinstance(body, bytes) and any(marker in body for marker in self.MARKERS):
                record.args = ("<redacted: holds a CA or credentials>",)
        return True


def _install_redaction() -> None:
    parsers = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, _RedactSecretBodies) for f in parsers.filters):
        parsers.addFilter(_RedactSecretBodies())


_install_redaction()


class EksDirectory:
    """DescribeCluster in one region. Implements ClusterDirectory."""

    AWS_OPERATIONS: ClassVar[Operations] = {"eks": ("DescribeCluster",)}

    def __init__(self, region: str | None = None, session: SessionSource | None = None):
        self._region, self._session = region, session

    @cached_property
    def _eks(self) -> Any:
        return _client("eks", self._region, self._session)

    @property
    def region(self) -> str:
        return self._region or str(self._eks.meta.region_name)

    def describe_cluster(self, name: str) -> ClusterInfo:
        response = call_aws(
            f"DescribeCluster {name}", lambda: self._eks.describe_cluster(name=name)
        )
        cluster = response.get("cluster", {})
        endpoint = cluster.get("endpoint")
        ca_data = cluster.get("certificateAuthority", {}).get("data")
        if not endpoint or not ca_data:
            status = cluster.get("status", "unknown")
            raise TransientError(f"DescribeCluster {name}: no endpoint or CA yet (status {status})")
        try:
            ca_pem = base64.b64decode(ca_data, validate=True)
        except (binascii.Error, ValueError):
            raise TransientError(f"DescribeCluster {name}: CA data is not base64") from None
        access = cluster.get("resourcesVpcConfig") or {}
        return ClusterInfo(
            name=name,
            endpoint=endpoint,
            ca_pem=ca_pem,
            region=self.region,
            public_access=bool(access.get("endpointPublicAccess", True)),
            private_access=bool(access.get("endpointPrivateAccess", False)),
            public_access_cidrs=tuple(access.get("publicAccessCidrs") or ("0.0.0.0/0",)),
        )


def assume_role_credentials(
    role_arn: str, region: str | None = None, session: SessionSource | None = None
) -> Credentials:
    """Credentials of `role_arn` for signing a token, as `aws eks get-token --role-arn` does."""
    sts: Any = _client("sts", region, session)
    response = call_aws(
        f"AssumeRole {role_arn}",
        lambda: sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME),
    )
    creds = response["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def configured_region() -> str | None:
    """The region of the AWS config and environment, as the AWS CLI resolves it."""
    region = botocore.session.get_session().get_config_variable("region")
    return str(region) if region else None


def signing_credentials(region: str, role_arn: str | None = None) -> Credentials | None:
    """What `aws eks get-token [--role-arn]` signs with: an assumed role, or the default chain."""
    if role_arn:
        return assume_role_credentials(role_arn, region)
    found: Credentials | None = botocore.session.get_session().get_credentials()
    return found


class _Walk:
    """One volume's CloudTrail record read so far, newest first: each tag key's last writer."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.writers: dict[str, tuple[str, ...]] = {}
        self.token = ""
        self.pages = 0
        self.done = False


class CloudTrailIdentities:
    """Who last set each of a volume's tags, from CloudTrail's record, when
    REGISTRAR_UNVERIFIED_EVENTS=cloudtrail. LookupEvents ("AWS CloudTrail API Reference,
    LookupEvents") answers for the last 90 days only, 50 events a page, and allows two calls a
    second per account and region, so the calls are:

    - paced: at most LOOKUP_RATE a second from this process (a token bucket; botocore's
      adaptive retries absorb the throttling that other callers in the account cause);
    - bounded: at most LOOKUP_PAGES pages for one volume, LOOKUP_BUDGET calls per
      LOOKUP_WINDOW_S for all of them; past a bound the keys not found yet are missing from
      the answer (the writer is unknown, not refused);
    - shared: one walk of a volume's record, newest first, serves every key and every work
      item of that volume for LOOKUP_SHARE_S (a batch; a duplicate of at-least-once
      delivery), and carries on from its last page when asked for a key it has not found yet.
      Short, because a record delivered since would be missed: `new_invocation` ends it.

    A record is searchable only once CloudTrail has delivered it ("within an average of about
    5 minutes of an API call; this time is not guaranteed"): an empty answer is no verdict."""

    AWS_OPERATIONS: ClassVar[Operations] = {"cloudtrail": ("LookupEvents",)}

    def __init__(
        self,
        region: str,
        session: SessionSource | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._region, self._session, self._clock = region, session, clock
        self._pace = TokenBucket(LOOKUP_RATE, 1.0, clock=clock, sleep=sleep)
        self._budget = TokenBucket(
            LOOKUP_BUDGET / LOOKUP_WINDOW_S, LOOKUP_BUDGET, clock=clock, sleep=sleep
        )
        self._walks: dict[str, _Walk] = {}
        self._lock = threading.Lock()
        self.calls = 0

    @cached_property
    def _trail(self) -> Any:
        return _client("cloudtrail", self._region, self._session)

    def new_invocation(self) -> None:
        """Forget every walk and refill the budget: an invocation's start, when the caller
        knows it (otherwise LOOKUP_SHARE_S and LOOKUP_WINDOW_S bound both)."""
        with self._lock:
            self._walks.clear()
            self._budget.refill()

    def who_set(self, volume_id: str, keys: Collection[str]) -> dict[str, tuple[str, ...]]:
        wanted = set(keys)
        with self._lock:  # one walk at a time: they share the pace and the budget
            walk = self._walk(volume_id)
            while not wanted <= walk.writers.keys() and not walk.done:
                if walk.pages >= LOOKUP_PAGES or not self._budget.try_take():
                    log.info("LookupEvents bound reached", extra={"volume_id": volume_id})
                    break
                self._pace.acquire()
                self._read_page(volume_id, walk)
            return {key: walk.writers[key] for key in wanted & walk.writers.keys()}

    def _walk(self, volume_id: str) -> _Walk:
        now = self._clock()
        walk = self._walks.get(volume_id)
        if walk is None or now - walk.started > LOOKUP_SHARE_S:
            for stale in [v for v, w in self._walks.items() if now - w.started > LOOKUP_SHARE_S]:
                del self._walks[stale]
            walk = self._walks[volume_id] = _Walk(now)
        return walk

    def _read_page(self, volume_id: str, walk: _Walk) -> None:
        lookup = {"AttributeKey": "ResourceName", "AttributeValue": volume_id}
        extra = {"NextToken": walk.token} if walk.token else {}
        call = partial(self._trail.lookup_events, LookupAttributes=[lookup], MaxResults=50, **extra)
        self.calls += 1
        response = call_aws(f"LookupEvents {volume_id}", call)
        walk.pages += 1
        for found in response.get("Events", []):  # newest first
            tagging = self._tagging(found)
            if tagging is not None:
                for key in tagging.tags.keys() - walk.writers.keys():
                    walk.writers[key] = tagging.principals
        walk.token = str(response.get("NextToken") or "")
        walk.done = not walk.token

    def _tagging(self, found: Mapping[str, Any]) -> VolumeCreated | TagsSet | None:
        if found.get("EventName") not in ("CreateTags", "CreateVolume"):
            return None
        record = {
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "region": self._region,
            "detail": json.loads(found.get("CloudTrailEvent") or "{}"),
        }
        with contextlib.suppress(InvalidInputError):
            parsed = parse_event(record)
            if isinstance(parsed, (VolumeCreated, TagsSet)):
                return parsed
        return None


# --- the work queue (issue #20): per-volume work items on an SQS FIFO queue ---------------------

SEND_BATCH = 10  # SendMessageBatch takes at most 10 entries
SEND_ATTEMPTS = 5  # rounds for the entries a batch call did not accept


class SqsWorkQueue:
    """WorkSink: submits work items to the FIFO work queue, 10 per SendMessageBatch.

    The message group is the volume id: SQS delivers a group's messages one at a time, in
    order, so no two workers ever hold the same volume ("Amazon SQS FIFO queue key terms",
    Message group ID). The deduplication id is a hash of the item's message: an identical item
    sent again within the 5-minute deduplication interval (a retried event, a splitter run
    twice) is accepted but not delivered (SendMessage, MessageDeduplicationId)."""

    AWS_OPERATIONS: ClassVar[Operations] = {"sqs": ("SendMessageBatch",)}

    def __init__(
        self,
        queue_url: str,
        region: str,
        session: SessionSource | None = None,
        config: Config = CLIENT_CONFIG,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url, self._region, self._session, self._config = queue_url, region, session, config
        self._pause = pause

    @cached_property
    def _sqs(self) -> Any:
        return _client("sqs", self._region, self._session, self._config)

    def submit(self, items: Sequence[WorkItem]) -> None:
        for start in range(0, len(items), SEND_BATCH):
            self._send(items[start : start + SEND_BATCH])

    def _send(self, chunk: Sequence[WorkItem]) -> None:
        pending = {str(index): _entry(str(index), item) for index, item in enumerate(chunk)}
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self._pause(min(2.0, 0.1 * 2**attempt))
            entries = list(pending.values())
            response = call_aws(
                "SendMessageBatch",
                partial(self._sqs.send_message_batch, QueueUrl=self._url, Entries=entries),
            )
            failed = response.get("Failed", [])
            # SenderFault: the entry itself is wrong, and sending it again cannot help.
            refused = [f for f in failed if f.get("SenderFault")]
            if refused:
                raise ProtocolError(f"SendMessageBatch: {refused[0].get('Code')}: "
                                    f"{refused[0].get('Message', '')}")  # fmt: skip
            pending = {str(f["Id"]): pending[str(f["Id"])] for f in failed}
            if not pending:
                return
        raise TransientError(f"SendMessageBatch: {len(pending)} entries not accepted")


def _entry(entry_id: str, item: WorkItem) -> dict[str, str]:
    body = item.to_message()
    return {
        "Id": entry_id,
        "MessageBody": body,
        "MessageGroupId": item.volume_id,
        "MessageDeduplicationId": hashlib.sha256(body.encode()).hexdigest(),
    }
