"""Connecting to NATS and provisioning the streams, buckets and stores every service relies on.

Provisioning is idempotent: every service calls it at start with the same layout, so any service
can come up first, on an empty server or on a cluster that already has everything.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext, api
from nats.js.errors import APIError, BadRequestError, BucketNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from . import subjects
from .nats_settings import NatsSettings

log = logging.getLogger(__name__)

STREAM_NAME_IN_USE = 10058


async def connect(settings: NatsSettings, name: str) -> NATS:
    """Connect with unlimited reconnects: a service outlives any NATS restart."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats: %r", exc)

    async def on_disconnect() -> None:
        log.warning("nats: disconnected")

    async def on_reconnect() -> None:
        log.info("nats: reconnected")

    return await nats.connect(
        servers=settings.servers,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        drain_timeout=5,  # a stop must not hang on a subscription that never drains
        allow_reconnect=True,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
    )


def stream_configs(settings: NatsSettings) -> list[api.StreamConfig]:
    return [
        api.StreamConfig(
            name=subjects.EVENTS_STREAM,
            subjects=[subjects.EVENTS_ALL],
            storage=api.StorageType.FILE,
            num_replicas=settings.nats_replicas,
            duplicate_window=settings.nats_duplicate_window,
            max_msg_size=settings.nats_max_msg_size,
            deny_delete=True,
            allow_direct=True,
        ),
        output_stream_config(settings),
        api.StreamConfig(
            name=subjects.DEAD_LETTER_STREAM,
            subjects=[subjects.DEAD_LETTER_ALL],
            storage=api.StorageType.FILE,
            num_replicas=settings.nats_replicas,
            duplicate_window=settings.nats_duplicate_window,
        ),
    ]


def output_stream_config(settings: NatsSettings) -> api.StreamConfig:
    """Run output: limits retention by age and bytes, the oldest lines dropped first (a reader
    sees the gap by the lines' numbers and says how many were lost)."""
    return api.StreamConfig(
        name=subjects.OUTPUT_STREAM,
        subjects=[subjects.OUTPUT_ALL],
        storage=api.StorageType.FILE,
        num_replicas=settings.nats_replicas,
        duplicate_window=min(settings.nats_duplicate_window, settings.nats_output_max_age),
        max_msg_size=min(settings.nats_max_msg_size, settings.nats_output_max_bytes),
        retention=api.RetentionPolicy.LIMITS,
        discard=api.DiscardPolicy.OLD,
        max_age=settings.nats_output_max_age,
        max_bytes=settings.nats_output_max_bytes,
        allow_direct=True,
    )


async def provision(js: JetStreamContext, settings: NatsSettings) -> None:
    for config in stream_configs(settings):
        try:
            info = await js.stream_info(config.name or "")
            if config.name == subjects.OUTPUT_STREAM:
                await _retain_as_configured(js, info.config, config)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError as exc:
                if exc.err_code != STREAM_NAME_IN_USE:  # another service won the race
                    raise
            log.info("created stream %s", config.name)
    await files_store(js, settings)
    await settings_bucket(js, settings)


async def _retain_as_configured(
    js: JetStreamContext, current: api.StreamConfig, wanted: api.StreamConfig
) -> None:
    """The output stream's retention is a setting: a changed one applies to the existing stream."""

    def limits(config: api.StreamConfig) -> tuple[object, ...]:
        return (config.max_age, config.max_bytes, config.duplicate_window, config.max_msg_size)

    if limits(current) == limits(wanted):
        return
    try:
        await js.update_stream(
            replace(
                current,
                max_age=wanted.max_age,
                max_bytes=wanted.max_bytes,
                duplicate_window=wanted.duplicate_window,
                max_msg_size=wanted.max_msg_size,
            )
        )
        log.info("output stream retention now %ss / %s bytes", wanted.max_age, wanted.max_bytes)
    except APIError as exc:  # the stream keeps the retention it has; the service goes on
        log.warning("could not update the output stream's retention: %s", exc)


async def _object_store(
    js: JetStreamContext, settings: NatsSettings, bucket: str, description: str | None = None
) -> ObjectStore:
    try:
        return await js.object_store(bucket)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_object_store(
            bucket,
            config=api.ObjectStoreConfig(
                description=description,
                storage=api.StorageType.FILE,
                replicas=settings.nats_replicas,
            ),
        )


async def files_store(js: JetStreamContext, settings: NatsSettings) -> ObjectStore:
    return await _object_store(js, settings, subjects.FILES_BUCKET)


async def snapshots_store(js: JetStreamContext, settings: NatsSettings) -> ObjectStore:
    """The gateway's read-model snapshots (only the gateway reads and writes them)."""
    return await _object_store(
        js, settings, subjects.SNAPSHOTS_BUCKET, "gateway read-model snapshots"
    )


async def settings_bucket(js: JetStreamContext, settings: NatsSettings) -> KeyValue:
    try:
        return await js.key_value(subjects.SETTINGS_BUCKET)
    except (BucketNotFoundError, NotFoundError):
        return await js.create_key_value(
            config=api.KeyValueConfig(
                bucket=subjects.SETTINGS_BUCKET,
                history=5,
                storage=api.StorageType.FILE,
                replicas=settings.nats_replicas,
            )
        )
