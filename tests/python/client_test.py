#!/usr/bin/python3
"""A third-party client of orgledger, built only from schema/*.fbs (flatc --python) and Debian's
python3-flatbuffers: it starts `orgledger serve` on port 0, appends DOMAIN.md's worked example,
reads the bill, reads the raw records back and checks their hash chain itself, and stops the
server with SIGTERM.

Usage: client_test.py ORGLEDGER_BINARY GENERATED_PYTHON_DIR
"""
import base64
import datetime
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, sys.argv[2])

import flatbuffers  # noqa: E402
from orgledger.fb import (AccountCreated, Event, EventBody, EventRecord,  # noqa: E402
                          MfaEnabled, OrganizationCreated, PasswordChanged, PriceScheduleSet,
                          PriceTier, UsageRecorded)
from orgledger.fb.EventId import CreateEventId  # noqa: E402
from orgledger.wire import (AppendEvent, AppendRequest, AppendResponse,  # noqa: E402
                            AuthenticateRequest, AuthenticateResponse, DocumentResponse, Error,
                            GetBillRequest, ReadRequest, RecordsResponse, Request, RequestBody,
                            Response, ResponseBody, Secret, VerifyRequest, VerifyResponse)

IDENTIFIER = b"OLP1"
checks = {"passed": 0, "failed": 0}


def check(description, condition):
    if condition:
        checks["passed"] += 1
    else:
        checks["failed"] += 1
        print("FAILED:", description, file=sys.stderr)


def micros(text):
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp()) * 1_000_000


def scaled(decimal_text, scale):
    """Exact decimal text to an integer of 10^-scale units (no floating point)."""
    whole, _, fraction = decimal_text.partition(".")
    return int(whole) * 10**scale + int((fraction + "0" * scale)[:scale] or 0)


def string(builder, text):
    return builder.CreateString(text)


def totp(seed_base32, unix_seconds):
    """RFC 6238 (HMAC-SHA-1, 30-second steps, 6 digits), from the standard library."""
    key = base64.b32decode(seed_base32 + "=" * (-len(seed_base32) % 8))
    digest = hmac.new(key, (unix_seconds // 30).to_bytes(8, "big"), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = int.from_bytes(digest[offset:offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def build_event(builder, kind, fields, occurred_at):
    """Builds an orgledger.fb.Event table; returns its offset."""
    if kind == "AccountCreated":
        offsets = {k: string(builder, v) for k, v in fields.items()}
        AccountCreated.AccountCreatedStart(builder)
        AccountCreated.AccountCreatedAddAccountId(builder, offsets["account_id"])
        AccountCreated.AccountCreatedAddEmail(builder, offsets["email"])
        AccountCreated.AccountCreatedAddName(builder, offsets["name"])
        if "org_id" in offsets:
            AccountCreated.AccountCreatedAddOrgId(builder, offsets["org_id"])
        body, body_type = AccountCreated.AccountCreatedEnd(builder), EventBody.EventBody.AccountCreated
    elif kind == "OrganizationCreated":
        offsets = {k: string(builder, v) for k, v in fields.items()}
        OrganizationCreated.OrganizationCreatedStart(builder)
        OrganizationCreated.OrganizationCreatedAddOrgId(builder, offsets["org_id"])
        OrganizationCreated.OrganizationCreatedAddRootId(builder, offsets["root_id"])
        OrganizationCreated.OrganizationCreatedAddManagementAccountId(
            builder, offsets["management_account_id"])
        body, body_type = (OrganizationCreated.OrganizationCreatedEnd(builder),
                           EventBody.EventBody.OrganizationCreated)
    elif kind == "PriceScheduleSet":
        tiers = []
        for up_to, price in fields["tiers"]:
            PriceTier.PriceTierStart(builder)
            if up_to is not None:
                PriceTier.PriceTierAddUpTo(builder, scaled(up_to, 6))
            PriceTier.PriceTierAddUnitPrice(builder, scaled(price, 12))
            tiers.append(PriceTier.PriceTierEnd(builder))
        PriceScheduleSet.PriceScheduleSetStartTiersVector(builder, len(tiers))
        for tier in reversed(tiers):
            builder.PrependUOffsetTRelative(tier)
        tier_vector = builder.EndVector()
        usage_type, service, unit = (string(builder, fields[k]) for k in ("usage_type", "service", "unit"))
        PriceScheduleSet.PriceScheduleSetStart(builder)
        PriceScheduleSet.PriceScheduleSetAddUsageType(builder, usage_type)
        PriceScheduleSet.PriceScheduleSetAddService(builder, service)
        PriceScheduleSet.PriceScheduleSetAddUnit(builder, unit)
        PriceScheduleSet.PriceScheduleSetAddEffectiveMonth(builder, fields["effective_month"])
        PriceScheduleSet.PriceScheduleSetAddTiers(builder, tier_vector)
        body, body_type = PriceScheduleSet.PriceScheduleSetEnd(builder), EventBody.EventBody.PriceScheduleSet
    elif kind in ("PasswordChanged", "MfaEnabled"):
        account = string(builder, fields["account_id"])
        if kind == "PasswordChanged":
            PasswordChanged.PasswordChangedStart(builder)
            PasswordChanged.PasswordChangedAddAccountId(builder, account)
            body, body_type = PasswordChanged.PasswordChangedEnd(builder), EventBody.EventBody.PasswordChanged
        else:
            device = string(builder, fields["device_id"])
            MfaEnabled.MfaEnabledStart(builder)
            MfaEnabled.MfaEnabledAddAccountId(builder, account)
            MfaEnabled.MfaEnabledAddDeviceId(builder, device)
            body, body_type = MfaEnabled.MfaEnabledEnd(builder), EventBody.EventBody.MfaEnabled
    elif kind == "UsageRecorded":
        account, usage_type = string(builder, fields["account_id"]), string(builder, fields["usage_type"])
        UsageRecorded.UsageRecordedStart(builder)
        UsageRecorded.UsageRecordedAddAccountId(builder, account)
        UsageRecorded.UsageRecordedAddUsageType(builder, usage_type)
        UsageRecorded.UsageRecordedAddQuantity(builder, scaled(fields["quantity"], 6))
        body, body_type = UsageRecorded.UsageRecordedEnd(builder), EventBody.EventBody.UsageRecorded
    else:
        raise ValueError(kind)
    Event.EventStart(builder)
    Event.EventAddOccurredAt(builder, micros(occurred_at))
    Event.EventAddBodyType(builder, body_type)
    Event.EventAddBody(builder, body)
    return Event.EventEnd(builder)


def request_frame(request_id, body_type, build_body):
    builder = flatbuffers.Builder(1024)
    body = build_body(builder)
    Request.RequestStart(builder)
    Request.RequestAddRequestId(builder, request_id)
    Request.RequestAddBodyType(builder, body_type)
    Request.RequestAddBody(builder, body)
    builder.Finish(Request.RequestEnd(builder), file_identifier=IDENTIFIER)
    payload = bytes(builder.Output())
    return struct.pack("<I", len(payload)) + payload


def append_frame(request_id, events):
    def build(builder):
        appended = []
        for event_id, kind, fields, occurred_at, *secret in events:
            event = build_event(builder, kind, fields, occurred_at)
            secret_offset = None
            if secret:  # {"password": ...} or {"totp_seed": ..., "code": ...}
                texts = {k: string(builder, v) for k, v in secret[0].items()}
                Secret.SecretStart(builder)
                if "password" in texts:
                    Secret.SecretAddPassword(builder, texts["password"])
                if "totp_seed" in texts:
                    Secret.SecretAddTotpSeed(builder, texts["totp_seed"])
                    Secret.SecretAddCode(builder, texts["code"])
                secret_offset = Secret.SecretEnd(builder)
            AppendEvent.AppendEventStart(builder)
            AppendEvent.AppendEventAddEventId(builder, CreateEventId(builder, event_id))
            AppendEvent.AppendEventAddEvent(builder, event)
            if secret_offset is not None:
                AppendEvent.AppendEventAddSecret(builder, secret_offset)
            appended.append(AppendEvent.AppendEventEnd(builder))
        AppendRequest.AppendRequestStartEventsVector(builder, len(appended))
        for offset in reversed(appended):
            builder.PrependUOffsetTRelative(offset)
        vector = builder.EndVector()
        AppendRequest.AppendRequestStart(builder)
        AppendRequest.AppendRequestAddEvents(builder, vector)
        return AppendRequest.AppendRequestEnd(builder)
    return request_frame(request_id, RequestBody.RequestBody.AppendRequest, build)


def receive(sock):
    def exactly(count):
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
        return data
    (length,) = struct.unpack("<I", exactly(4))
    payload = exactly(length)
    assert payload[4:8] == IDENTIFIER
    return Response.Response.GetRootAs(payload, 0)


def authenticate_frame(request_id, token):
    def build(builder):
        text = string(builder, token)
        AuthenticateRequest.AuthenticateRequestStart(builder)
        AuthenticateRequest.AuthenticateRequestAddToken(builder, text)
        return AuthenticateRequest.AuthenticateRequestEnd(builder)
    return request_frame(request_id, RequestBody.RequestBody.AuthenticateRequest, build)


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory() as work:
        auth, token_file = os.path.join(work, "auth"), os.path.join(work, "token")
        subprocess.run([binary, "token", "create", "--name", "python", "--role", "admin",
                        "--auth", auth, "--out", token_file], check=True, stdout=subprocess.DEVNULL)
        with open(token_file) as f:
            token = f.read().strip()
        server = subprocess.Popen([binary, "serve", "--data", os.path.join(work, "data"),
                                   "--listen", "127.0.0.1:0", "--auth", auth],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = server.stdout.readline()
            port = int(line.rsplit(":", 1)[1])
            sock = socket.create_connection(("127.0.0.1", port), timeout=30)

            seed = base64.b32encode(os.urandom(20)).decode()
            worked_example = [
                (bytes([1] * 16), "AccountCreated", {"account_id": "111111111111", "email": "billing@example.com", "name": "Example Corp"}, "2026-09-01T00:00:00Z"),
                (bytes([2] * 16), "PasswordChanged", {"account_id": "111111111111"}, "2026-09-01T00:00:10Z", {"password": "Python-Client-2026!"}),
                (bytes([3] * 16), "MfaEnabled", {"account_id": "111111111111", "device_id": "python"}, "2026-09-01T00:00:20Z", {"totp_seed": seed, "code": totp(seed, int(time.time()))}),
                (bytes([4] * 16), "OrganizationCreated", {"org_id": "o-exampleorg1", "root_id": "r-exampleorg1", "management_account_id": "111111111111"}, "2026-09-01T00:01:00Z"),
                (bytes([5] * 16), "AccountCreated", {"account_id": "222222222222", "email": "member@example.com", "name": "Member", "org_id": "o-exampleorg1"}, "2026-09-01T00:02:00Z"),
                (bytes([6] * 16), "PriceScheduleSet", {"usage_type": "DataTransfer-Out-GB", "service": "ec2", "unit": "GB", "effective_month": 202610, "tiers": [("10240", "0.17"), (None, "0.13")]}, "2026-09-20T00:00:00Z"),
                (bytes([7] * 16), "UsageRecorded", {"account_id": "111111111111", "usage_type": "DataTransfer-Out-GB", "quantity": "8192"}, "2026-10-03T10:00:00Z"),
                (bytes([8] * 16), "UsageRecorded", {"account_id": "222222222222", "usage_type": "DataTransfer-Out-GB", "quantity": "4096"}, "2026-10-05T10:00:00Z"),
            ]
            # Nothing but Hello and Authenticate before signing in.
            sock.sendall(append_frame(1, worked_example))
            response = receive(sock)
            error = Error.Error()
            error.Init(response.Body().Bytes, response.Body().Pos)
            check("an append before signing in is refused (Unauthenticated, 16)",
                  response.BodyType() == ResponseBody.ResponseBody.Error and error.Code() == 16
                  and error.Reason() == b"AuthenticationRequired")
            sock.sendall(authenticate_frame(2, token))
            response = receive(sock)
            check("authenticate succeeds", response.BodyType() == ResponseBody.ResponseBody.AuthenticateResponse)
            signed_in = AuthenticateResponse.AuthenticateResponse()
            signed_in.Init(response.Body().Bytes, response.Body().Pos)
            check("signed in as the admin operator",
                  signed_in.Principal() == b"operator:python" and signed_in.Role() == b"admin")

            sock.sendall(append_frame(1, worked_example))
            response = receive(sock)
            check("append answers request 1", response.RequestId() == 1)
            check("append succeeds", response.BodyType() == ResponseBody.ResponseBody.AppendResponse)
            reply = AppendResponse.AppendResponse()
            reply.Init(response.Body().Bytes, response.Body().Pos)
            check("eight events stored", reply.Stored() == 8 and reply.HeadPosition() == 8)

            # The same event id with other content is refused, by reason name.
            changed = [(bytes([8] * 16), "UsageRecorded", {"account_id": "222222222222", "usage_type": "DataTransfer-Out-GB", "quantity": "1"}, "2026-10-05T10:00:00Z")]
            sock.sendall(append_frame(2, changed))
            response = receive(sock)
            check("conflicting retry is an Error", response.BodyType() == ResponseBody.ResponseBody.Error)
            error = Error.Error()
            error.Init(response.Body().Bytes, response.Body().Pos)
            check("reason DuplicateEventId, code AlreadyExists (6)",
                  error.Reason() == b"DuplicateEventId" and error.Code() == 6)

            def bill_body(builder):
                payer, month, as_of = string(builder, "111111111111"), string(builder, "2026-10"), string(builder, "")
                GetBillRequest.GetBillRequestStart(builder)
                GetBillRequest.GetBillRequestAddPayer(builder, payer)
                GetBillRequest.GetBillRequestAddMonth(builder, month)
                GetBillRequest.GetBillRequestAddAsOf(builder, as_of)
                GetBillRequest.GetBillRequestAddJson(builder, True)
                return GetBillRequest.GetBillRequestEnd(builder)
            sock.sendall(request_frame(3, RequestBody.RequestBody.GetBillRequest, bill_body))
            response = receive(sock)
            document = DocumentResponse.DocumentResponse()
            document.Init(response.Body().Bytes, response.Body().Pos)
            bill = json.loads(document.Text())
            check("bill total 2007.04", bill["total"] == "2007.04")
            check("savings 81.92", bill["savings"] == "81.92")
            check("member lines 1338.03 and 669.01",
                  [m["invoice_amount"] for m in bill["members"]] == ["1338.03", "669.01"])

            def verify_body(builder):
                VerifyRequest.VerifyRequestStart(builder)
                return VerifyRequest.VerifyRequestEnd(builder)
            sock.sendall(request_frame(4, RequestBody.RequestBody.VerifyRequest, verify_body))
            response = receive(sock)
            verified = VerifyResponse.VerifyResponse()
            verified.Init(response.Body().Bytes, response.Body().Pos)
            check("server-side verify passes", verified.Ok() and verified.Records() == 8)

            def read_body(builder):
                ReadRequest.ReadRequestStart(builder)
                ReadRequest.ReadRequestAddFrom_(builder, 1)  # "from" is a Python keyword
                return ReadRequest.ReadRequestEnd(builder)
            sock.sendall(request_frame(5, RequestBody.RequestBody.ReadRequest, read_body))
            response = receive(sock)
            records = RecordsResponse.RecordsResponse()
            records.Init(response.Body().Bytes, response.Body().Pos)
            previous = bytes(32)
            chain_ok = records.RecordsLength() == 8
            for i in range(records.RecordsLength()):
                record_table = records.Records(i)
                stored = bytes(record_table.Bytes(j) for j in range(record_table.BytesLength()))
                record = EventRecord.EventRecord.GetRootAs(stored, 0)
                chain_ok &= record.Position() == i + 1
                chain_ok &= bytes(record.PrevHash().Bytes()) == previous
                previous = hashlib.sha256(stored).digest()
                check("no record holds a secret",
                      b"Python-Client-2026!" not in stored and seed.encode() not in stored
                      and base64.b32decode(seed) not in stored)
            check("the client verifies the hash chain from the raw records", chain_ok)
            sock.close()
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
        check("the server stops cleanly on SIGTERM", code == 0)
    print(f"{checks['passed']} passed, {checks['failed']} failed")
    return 0 if checks["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
