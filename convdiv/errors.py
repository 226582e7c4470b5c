"""One exception type for every failure a user can fix; the CLI prints its message on one line and exits 1.

Database failures a user can cause (missing privileges, a server that went away, a full disk, a lock held by
someone else, a read-only session, a schema that does not match) arrive as psycopg or SQLAlchemy exceptions from
anywhere in the code. Rather than catching them in every command, :func:`user_error` translates them in one place,
by SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html) or, for connection failures that
carry none, by libpq's message; the CLI's error handler calls it, and so does the ingest call for its workers.

When a cleanup step fails after the real failure (a worker's publish fails because the server died, then marking
its units ``failed`` fails too), the first error is the one worth reading: :func:`user_error` reports the
exception that was being handled when a database error was raised, not the database error.
"""

from __future__ import annotations

import re


class ConvdivError(Exception):
    """A user-facing error. The message names the thing at fault (file, checkpoint, row, host)."""

    exit_code = 1

    def __str__(self) -> str:
        # One line, always: multi-line causes (tracebacks, server messages) are folded; known secrets are redacted.
        return redact(" ".join(super().__str__().split()))


class StaleSchemaError(ConvdivError):
    """The warehouse schema is older (or newer) than this convdiv's migrations."""


class DatabaseError(ConvdivError):
    """A database failure translated into its cause and fix; ``sqlstate`` is the server's code when it sent one."""

    sqlstate: str | None = None


# --------------------------------------------------------------------------------------------- secrets

# Strings that must never reach the terminal (the password of DATABASE_URL and its pieces); filled by
# ``convdiv.config`` when it reads a URL, so every message printed through ConvdivError is redacted.
_SECRETS: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Never print ``secret`` (nor its parts between URL delimiters, nor its percent-encoded form)."""
    if not secret:
        return
    from urllib.parse import quote

    pieces = {secret, quote(secret, safe=""), quote(secret)}
    # A URL parser that splits the password at a delimiter prints the rest of it as host or database name.
    pieces.update(p for p in re.split(r"[@/:?#%&=,\s]", secret) if len(p) >= 4)
    _SECRETS.update(p for p in pieces if p)


# Words convdiv prints itself and names the masked URL shows anyway (user, database, host; see
# ``warehouse.engine.parse_database_url``). A password equal to one of them (docker-compose.yml's default password is
# "convdiv") is not redacted from them: that would turn every `convdiv db upgrade` hint into `*** db upgrade` and hide
# nothing the masked URL does not already show.
_PUBLIC: set[str] = {"convdiv", "postgres", "postgresql", "psycopg"}


def register_public(*names: str | None) -> None:
    _PUBLIC.update(n for n in names if n)


def redact(text: str) -> str:
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret not in _PUBLIC:
            text = text.replace(secret, "***")
    return text


# --------------------------------------------------------------------------------------------- translation

# Who convdiv connects as and where (set by ``warehouse.engine.get_engine``), so messages can name them.
_CONNECTION = {"user": "", "server": ""}


def note_connection(user: str | None, server: str | None) -> None:
    _CONNECTION.update(user=user or "", server=server or "")


_CONNECTION_LOST_FIX = (
    "check that the server{server} is running and reachable, then re-run the command (what was "
    "already committed stays; `convdiv ingest` resumes after its last published unit)"
)

# SQLSTATE (exact code, or its two-character class) -> (cause, fix). {msg} is the server's primary message.
_BY_SQLSTATE: dict[str, tuple[str, str]] = {
    "42501": (
        "database user {user} lacks a privilege this command needs ({msg})",
        "for read access ask the warehouse owner to run `convdiv db grant-analyst {role}`; commands that "
        "write (db upgrade, corpus add/remove, ingest, demo) must connect as the warehouse owner or loader",
    ),
    "25006": (
        "the database session of user {user} is read-only ({msg})",
        "this command writes: connect as the warehouse's loader role (analyst roles are read-only), to the "
        "primary server rather than a standby, or with default_transaction_read_only off",
    ),
    "53100": (
        "the database server's disk is full ({msg})",
        "free space on the server's data (or tablespace) volume, then re-run; nothing half-written is visible "
        "and `convdiv ingest` resumes after its last published unit",
    ),
    "53200": (
        "the database server ran out of memory ({msg})",
        "lower --workers / --batch-tokens or give the server more memory (work_mem, shared_buffers), then re-run",
    ),
    "53300": (
        "the database server has no free connection slots ({msg})",
        "lower --workers, close idle sessions or raise max_connections, then re-run",
    ),
    "53400": (
        "a server configuration limit was exceeded ({msg})",
        "raise the limit named in the message (e.g. temp_file_limit) or ask the server's administrator",
    ),
    "53": ("the database server is out of resources ({msg})", "free the resource named in the message, then re-run"),
    "55P03": (
        "timed out waiting for a lock held by another session ({msg})",
        "another convdiv (ingest, corpus add/remove, db upgrade) or a psql session holds it; let it finish or "
        "stop it (see pg_stat_activity), then re-run",
    ),
    "57014": (
        "the server cancelled a statement ({msg})",
        "a statement_timeout or an administrator stopped it; raise statement_timeout for this role or re-run "
        "when the server is less busy",
    ),
    "40P01": (
        "a deadlock with another session aborted this command ({msg})",
        "re-run it; nothing half-written is visible",
    ),
    "40001": ("a concurrent update aborted this command ({msg})", "re-run it; nothing half-written is visible"),
    "57P01": ("the database server terminated the connection ({msg})", _CONNECTION_LOST_FIX),
    "57P02": ("the database server crashed ({msg})", _CONNECTION_LOST_FIX),
    "57P03": ("the database server is not accepting connections yet ({msg})", "wait until it has started, then re-run"),
    "57P": ("the database server shut down ({msg})", _CONNECTION_LOST_FIX),
    "08": ("the connection to the database server failed ({msg})", _CONNECTION_LOST_FIX),
    "58": ("the database server reported a system error ({msg})", "check the server's log and its disk, then re-run"),
    "XX": ("the database server reported an internal error ({msg})", "check the server's log, then re-run"),
    "42P01": (
        "the warehouse schema does not match this convdiv ({msg})",
        "run `convdiv db upgrade`; if the schema is already at head, it was changed by hand: restore it from "
        "the migrations",
    ),
    "42703": (
        "the warehouse schema does not match this convdiv ({msg})",
        "run `convdiv db upgrade`; if the schema is already at head, it was changed by hand: restore it from "
        "the migrations",
    ),
    "42883": (
        "the warehouse schema does not match this convdiv ({msg})",
        "run `convdiv db upgrade`; if the schema is already at head, it was changed by hand: restore it from "
        "the migrations",
    ),
    "3D000": ("the database does not exist ({msg})", "create it (createdb) or fix the database name in {url}"),
    "28P01": ("authentication failed ({msg})", "check the user and password in {url}"),
    "28": (
        "the server refused the login ({msg})",
        "check the user in {url} and the server's pg_hba.conf entry for this host",
    ),
}

# libpq messages of connection failures (psycopg sends no SQLSTATE for them) -> the SQLSTATE they stand for.
_BY_MESSAGE: list[tuple[re.Pattern, str]] = [
    (re.compile(r"database \S+ does not exist"), "3D000"),
    (re.compile(r"password authentication failed|role \S+ does not exist"), "28P01"),
    (re.compile(r"no pg_hba\.conf entry|authentication"), "28000"),
    (re.compile(r"too many (clients|connections)|remaining connection slots"), "53300"),
    (re.compile(r"the database system is (starting up|in recovery mode)"), "57P03"),
    (re.compile(r"the database system is shutting down|terminating connection due to administrator"), "57P01"),
    (re.compile(r"is not currently accepting connections"), "08004"),
    (re.compile(r"No space left on device"), "53100"),
    (
        re.compile(
            r"server closed the connection|connection is (closed|lost)|consuming input failed|"
            r"could not receive data|could not send data|SSL SYSCALL|EOF detected|connection refused|"
            r"Connection refused|could not connect|connection failed|timeout expired|"
            r"could not translate host name|failed to resolve host|Name or service not known|"
            r"No such file or directory"
        ),
        "08006",
    ),
]


def _database_exception(exc: BaseException):
    """The psycopg error inside ``exc`` (itself, or what a SQLAlchemy DBAPIError wraps), else None."""
    import psycopg

    orig = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError
    if isinstance(orig, psycopg.Error):
        return orig
    if isinstance(exc, psycopg.Error):
        return exc
    return None


def _primary_message(err) -> str:
    diag = getattr(err, "diag", None)
    text = (diag.message_primary if diag is not None else None) or str(err)
    # libpq prefixes connection failures with "connection failed: connection to server at ... failed: FATAL:"
    text = re.sub(r"^.*\bfailed:\s*(?:(?:FATAL|ERROR):\s*)?", "", " ".join(text.split()))
    return text.strip().rstrip(".")


def _sqlstate(err) -> str | None:
    code = getattr(err, "sqlstate", None)
    if code:
        return code
    text = str(err)
    for pattern, mapped in _BY_MESSAGE:
        if pattern.search(text):
            return mapped
    return None


_CONNECT_FIX = "start the server, or fix the host and port in {url} (without it, convdiv's embedded server is used)"
# Where the warehouse URL came from, as the user wrote it: messages name that (`--database-url` or DATABASE_URL).
_URL_OPTION = {"name": "DATABASE_URL"}


def set_url_option(name: str) -> None:
    """Record how the user gave the warehouse URL (the command line sets it when it parses its options)."""
    _URL_OPTION["name"] = name


def url_option() -> str:
    """``--database-url`` when the URL came from the command line, else ``DATABASE_URL``."""
    return _URL_OPTION["name"]


def database_error(exc: BaseException, *, connecting: bool = False) -> DatabaseError | None:
    """``exc`` as one line naming the cause and the fix when it is a database failure, else None.

    ``connecting``: the failure happened while opening the first connection (nothing was running yet), so a
    connection failure's fix is about where the server is, not about re-running.
    """
    err = _database_exception(exc)
    if err is None:
        return None
    code = _sqlstate(err)
    msg = _primary_message(err)
    cause: str | None = None
    fix = ""  # set together with cause below
    if code:
        for key in (code, code[:3], code[:2]):
            if key in _BY_SQLSTATE:
                cause, fix = _BY_SQLSTATE[key]
                break
    if cause is None:
        # Not a failure a user can cause by setup or load (a bug or a constraint we did not expect): still one
        # line, with the server's code so it can be looked up.
        cause, fix = (
            "unexpected database error {code} ({msg})",
            "unless the warehouse was changed by hand, this is a bug in convdiv: please report it with the "
            "command you ran",
        )
    if connecting and code and code.startswith("08"):
        cause, fix = "{msg}", _CONNECT_FIX
    user = _CONNECTION["user"]
    names = {
        "msg": msg,
        "url": url_option(),
        "code": code or type(err).__name__,
        "user": repr(user) if user else "(default)",
        "role": user or "ROLE",
        "server": f" at {_CONNECTION['server']}" if _CONNECTION["server"] else "",
    }
    out = DatabaseError(f"{cause.format(**names)}: {fix.format(**names)}")
    out.sqlstate = code
    return out


def _earlier(exc: BaseException) -> BaseException | None:
    """The exception that was being handled when ``exc`` (or the error it wraps) was raised, if any."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and link not in chain:  # exc and what it wraps (SQLAlchemy: `raise ... from orig`)
        chain.append(link)
        link = link.__cause__ or getattr(link, "orig", None)
    for link in chain:
        ctx = link.__context__
        if ctx is not None and ctx not in chain and not (link.__suppress_context__ and link.__cause__ is None):
            return ctx
    return None


def first_failure(exc: BaseException) -> BaseException:
    """``exc``, or the failure it happened in: a database error raised while handling an earlier error (a
    cleanup step failing after the real failure) stands for that earlier error."""
    seen = []
    while _database_exception(exc) is not None and exc not in seen:
        seen.append(exc)
        earlier = _earlier(exc)
        if earlier is None:
            break
        exc = earlier
    return exc


def user_error(exc: BaseException) -> ConvdivError | None:
    """What to tell the user about ``exc`` in one line, or None for an unexpected failure (a bug: traceback)."""
    exc = first_failure(exc)
    if isinstance(exc, ConvdivError):
        return exc
    return database_error(exc)


def describe(exc: BaseException, context: str = "") -> str:
    """One line for ``exc``: its user error when it has one, else ``context: Type: message``."""
    exc = first_failure(exc)
    err = user_error(exc)
    if err is not None:
        return str(err)
    return f"{context + ': ' if context else ''}{type(exc).__name__}: {redact(' '.join(str(exc).split()))}"
