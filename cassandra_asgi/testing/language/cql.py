"""Tokenizer and recursive-descent parser for the supported CQL subset.

It produces plain statement objects; nothing here knows about tables or types (``execution``
binds statements to the schema). Text outside the subset raises :class:`Unsupported` with the
construct named, so a user knows it is this test server's limit and not a typo.
"""

from __future__ import annotations

import decimal
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..errors import Invalid, SyntaxProblem
from .types import (
    DURATION_TOKEN,
    LiteralError,
    MapLiteral,
    SetLiteral,
    TupleLiteral,
    UdtLiteral,
    parse_duration,
)

__all__ = [
    "AlterKeyspace",
    "AlterTable",
    "AlterType",
    "Assignment",
    "Batch",
    "Call",
    "CastExpr",
    "ColumnRef",
    "Condition",
    "CreateIndex",
    "CreateKeyspace",
    "CreateTable",
    "CreateType",
    "Delete",
    "DropIndex",
    "DropKeyspace",
    "DropTable",
    "DropType",
    "FieldRef",
    "FunctionCall",
    "Insert",
    "Literal",
    "Marker",
    "Relation",
    "Select",
    "Selector",
    "Statement",
    "Truncate",
    "Unsupported",
    "Update",
    "Use",
    "parse",
]

SUBSET_DOC = "see docs/cql-subset.md for the supported CQL"


class Unsupported(Invalid):
    """Valid CQL that this in-memory test server does not implement."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} is not supported by the in-memory test server ({SUBSET_DOC})")


# --- terms -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class Marker:
    index: int
    name: str | None


@dataclass(frozen=True, slots=True)
class FunctionCall:
    name: str
    args: tuple[Term, ...]


Term = Literal | Marker | FunctionCall


@dataclass(frozen=True, slots=True)
class Relation:
    column: str  # for token(...) restrictions, the first partition key column named
    op: str  # = < <= > >= IN CONTAINS "CONTAINS KEY"
    term: Term | None = None  # a single term, or a marker bound to a whole IN list
    terms: tuple[Term, ...] | None = None  # IN (a, b, c)
    token: tuple[str, ...] | None = None  # token(a, b) > term: the columns inside token()


@dataclass(frozen=True, slots=True)
class Condition:
    column: str
    op: str  # = != < <= > >= IN
    term: Term | None = None
    terms: tuple[Term, ...] | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    column: str
    kind: str  # set | add | prepend | remove | set_key | set_field
    term: Term
    key: Term | None = None
    field: str | None = None  # set_field: the UDT field assigned


# --- statements --------------------------------------------------------------------------


@dataclass(slots=True)
class Statement:
    marker_count: int = field(default=0, init=False)


@dataclass(slots=True)
class CreateKeyspace(Statement):
    name: str = ""
    if_not_exists: bool = False
    replication: dict[str, str] = field(default_factory=dict)
    durable_writes: bool = True


@dataclass(slots=True)
class DropKeyspace(Statement):
    name: str = ""
    if_exists: bool = False


@dataclass(slots=True)
class ColumnSpec:
    name: str
    type_text: str
    static: bool = False


@dataclass(slots=True)
class CreateTable(Statement):
    keyspace: str | None = None
    name: str = ""
    if_not_exists: bool = False
    columns: list[ColumnSpec] = field(default_factory=list)
    partition_key: list[str] = field(default_factory=list)
    clustering: list[str] = field(default_factory=list)
    descending: set[str] = field(default_factory=set)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class DropTable(Statement):
    keyspace: str | None = None
    name: str = ""
    if_exists: bool = False


@dataclass(slots=True)
class Truncate(Statement):
    keyspace: str | None = None
    name: str = ""


@dataclass(slots=True)
class Use(Statement):
    keyspace: str = ""


@dataclass(slots=True)
class CreateType(Statement):
    keyspace: str | None = None
    name: str = ""
    if_not_exists: bool = False
    fields: list[tuple[str, str]] = field(default_factory=list)  # (name, type text)


@dataclass(slots=True)
class DropType(Statement):
    keyspace: str | None = None
    name: str = ""
    if_exists: bool = False


@dataclass(slots=True)
class AlterType(Statement):
    keyspace: str | None = None
    name: str = ""
    added: list[tuple[str, str]] = field(default_factory=list)  # ADD field type
    renamed: list[tuple[str, str]] = field(default_factory=list)  # RENAME old TO new


@dataclass(slots=True)
class AlterTable(Statement):
    keyspace: str | None = None
    name: str = ""
    added: list[ColumnSpec] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    altered_type: str | None = None  # ALTER col TYPE t: refused as Cassandra 3.x does


@dataclass(slots=True)
class AlterKeyspace(Statement):
    name: str = ""
    replication: dict[str, str] | None = None
    durable_writes: bool | None = None


@dataclass(slots=True)
class CreateIndex(Statement):
    keyspace: str | None = None
    table: str = ""
    name: str | None = None
    if_not_exists: bool = False
    column: str = ""
    target: str = "values"  # values | keys | entries | full (the whole frozen collection)
    explicit_target: bool = False  # values(c) written out, not just c
    custom_class: str | None = None
    options: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class DropIndex(Statement):
    keyspace: str | None = None
    name: str = ""
    if_exists: bool = False


@dataclass(slots=True)
class Insert(Statement):
    keyspace: str | None = None
    table: str = ""
    columns: list[str] = field(default_factory=list)
    values: list[Term] = field(default_factory=list)
    if_not_exists: bool = False
    ttl: Term | None = None
    timestamp: Term | None = None
    json: Term | None = None  # INSERT JSON: the JSON text (a literal or a bind marker)
    json_default_unset: bool = False  # DEFAULT UNSET: columns missing from the JSON untouched


@dataclass(slots=True)
class Update(Statement):
    keyspace: str | None = None
    table: str = ""
    assignments: list[Assignment] = field(default_factory=list)
    where: list[Relation] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    if_exists: bool = False
    ttl: Term | None = None
    timestamp: Term | None = None


@dataclass(slots=True)
class Delete(Statement):
    keyspace: str | None = None
    table: str = ""
    columns: list[str] = field(default_factory=list)
    where: list[Relation] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    if_exists: bool = False
    timestamp: Term | None = None


@dataclass(frozen=True, slots=True)
class ColumnRef:
    name: str


@dataclass(frozen=True, slots=True)
class FieldRef:
    base: Expr
    field: str


@dataclass(frozen=True, slots=True)
class Call:
    """A function in a selector: ``writetime(v)``, ``token(k)``, ``blobAsInt(b)``, ``count(*)``."""

    name: str  # lower-cased
    args: tuple[Expr, ...]
    star: bool = False  # count(*)


@dataclass(frozen=True, slots=True)
class CastExpr:
    expr: Expr
    type_text: str


Expr = ColumnRef | FieldRef | Call | CastExpr | Literal | Marker


@dataclass(slots=True)
class Selector:
    expr: Expr
    alias: str | None = None

    @property
    def column(self) -> str | None:
        """The column name of a plain column selector."""
        return self.expr.name if isinstance(self.expr, ColumnRef) else None

    @property
    def count(self) -> bool:
        return isinstance(self.expr, Call) and self.expr.name == "count"


@dataclass(slots=True)
class Select(Statement):
    keyspace: str | None = None
    table: str = ""
    star: bool = False
    selectors: list[Selector] = field(default_factory=list)
    where: list[Relation] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    limit: Term | None = None
    per_partition_limit: Term | None = None
    distinct: bool = False
    allow_filtering: bool = False
    json: bool = False


@dataclass(slots=True)
class Batch(Statement):
    kind: str = "LOGGED"
    statements: list[Insert | Update | Delete] = field(default_factory=list)
    timestamp: Term | None = None


# --- tokenizer ---------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^']|'')*')
  | (?P<dollar>\$\$.*?\$\$)
  | (?P<qident>"(?:[^"]|"")+")
  | (?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<blob>0[xX][0-9a-fA-F]*(?!\w))
  | (?P<duration>"""
    + DURATION_TOKEN
    + r""")
  | (?P<float>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<int>\d+(?![\w.]))
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)
  | (?P<named>:(?:[a-zA-Z_][a-zA-Z0-9_]*|"(?:[^"]|"")+"))
  | (?P<op><=|>=|!=|[-+(),;.*=<>?\[\]{}:])
    """,
    re.VERBOSE | re.DOTALL | re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident qident string int float uuid blob duration named op end
    text: str
    pos: int

    @property
    def word(self) -> str:
        """Lower-cased identifier/keyword text, or '' for other kinds."""
        return self.text.lower() if self.kind == "ident" else ""


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    length = len(text)
    while pos < length:
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise SyntaxProblem(f"{_where(text, pos)} token recognition error at: '{text[pos]}'")
        kind = match.lastgroup or "ws"
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    tokens.append(Token("end", "", length))
    return tokens


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1)
    return f"line {line}:{column}"


# --- parser ------------------------------------------------------------------------------

_UNSUPPORTED_STARTS = {
    "grant": "GRANT",
    "revoke": "REVOKE",
    "list": "LIST",
    "drop": "DROP",
    "create": "CREATE",
}


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0
        self.markers = 0

    # token helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def error(self, expecting: str) -> SyntaxProblem:
        token = self.tok
        shown = token.text if token.kind != "end" else "<EOF>"
        return SyntaxProblem(
            f"{_where(self.text, token.pos)} mismatched input '{shown}' expecting "
            + (f"K_{expecting}" if expecting.isalpha() and expecting.isupper() else expecting)
        )

    def at_word(self, *words: str) -> bool:
        return self.tok.word in words

    def accept_word(self, *words: str) -> bool:
        if self.tok.word in words:
            self.advance()
            return True
        return False

    def expect_word(self, word: str) -> None:
        if not self.accept_word(word):
            raise self.error(word.upper())

    def accept_op(self, op: str) -> bool:
        if self.tok.kind == "op" and self.tok.text == op:
            self.advance()
            return True
        return False

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise self.error(f"'{op}'")

    def identifier(self, what: str = "identifier") -> str:
        token = self.tok
        if token.kind == "ident":
            self.advance()
            return token.text.lower()
        if token.kind == "qident":
            self.advance()
            return token.text[1:-1].replace('""', '"')
        raise self.error(what)

    def qualified_name(self, what: str = "a table name") -> tuple[str | None, str]:
        first = self.identifier(what)
        if self.accept_op("."):
            return first, self.identifier(what)
        return None, first

    def finish(self) -> None:
        self.accept_op(";")
        if self.tok.kind != "end":
            raise self.error("<EOF>")

    # statements
    def statement(self) -> Statement:
        word = self.tok.word
        if word == "select":
            stmt: Statement = self.select()
        elif word == "insert":
            stmt = self.insert()
        elif word == "update":
            stmt = self.update()
        elif word == "delete":
            stmt = self.delete()
        elif word == "begin":
            stmt = self.batch()
        elif word == "create":
            stmt = self.create()
        elif word == "drop":
            stmt = self.drop()
        elif word == "alter":
            stmt = self.alter()
        elif word == "truncate":
            self.advance()
            self.accept_word("table")
            ks, name = self.qualified_name()
            stmt = Truncate(keyspace=ks, name=name)
        elif word == "use":
            self.advance()
            stmt = Use(keyspace=self.identifier("a keyspace name"))
        elif word in _UNSUPPORTED_STARTS:
            raise Unsupported(f"{_UNSUPPORTED_STARTS[word]} {self.peek().text.upper()}".strip())
        elif self.tok.kind == "end":
            raise SyntaxProblem("line 1:0 no viable alternative at input '<EOF>' (empty statement)")
        else:
            raise SyntaxProblem(
                f"{_where(self.text, self.tok.pos)} no viable alternative at input "
                f"'{self.tok.text}'"
            )
        self.finish()
        stmt.marker_count = self.markers
        return stmt

    def create(self) -> Statement:
        self.expect_word("create")
        if self.accept_word("keyspace", "schema"):
            return self.create_keyspace()
        if self.accept_word("table", "columnfamily"):
            return self.create_table()
        if self.accept_word("type"):
            return self.create_type()
        if self.at_word("index") or (self.at_word("custom") and self.peek().word == "index"):
            return self.create_index()
        what = self.tok.text.upper()
        if what == "MATERIALIZED":
            what = f"{what} {self.peek().text.upper()}"
        raise Unsupported(f"CREATE {what}")

    def create_type(self) -> CreateType:
        stmt = CreateType(if_not_exists=self.if_not_exists())
        stmt.keyspace, stmt.name = self.qualified_name("a type name")
        self.expect_op("(")
        while True:
            stmt.fields.append((self.identifier("a field name"), self.type_text()))
            if not self.accept_op(","):
                break
        self.expect_op(")")
        return stmt

    def create_index(self) -> CreateIndex:
        stmt = CreateIndex()
        custom = self.accept_word("custom")
        self.expect_word("index")
        stmt.if_not_exists = self.if_not_exists()
        if not self.at_word("on"):
            stmt.name = self.identifier("an index name")
        self.expect_word("on")
        stmt.keyspace, stmt.table = self.qualified_name()
        self.expect_op("(")
        if self.at_word("keys", "values", "entries", "full") and self.peek().text == "(":
            stmt.target = self.advance().text.lower()
            stmt.explicit_target = True
            self.expect_op("(")
            stmt.column = self.identifier("a column name")
            self.expect_op(")")
        else:
            stmt.column = self.identifier("a column name")
        self.expect_op(")")
        if self.accept_word("using"):
            value = self.constant()
            if not isinstance(value, str):
                raise self.error("an index class name string")
            stmt.custom_class = value
            if self.accept_word("with"):
                self.expect_word("options")
                self.expect_op("=")
                options = self.constant()
                if not isinstance(options, MapLiteral):
                    raise Invalid("Index OPTIONS must be a map literal")
                stmt.options = {str(k): _option_text(v) for k, v in options.items()}
        elif custom:
            raise self.error("USING")
        return stmt

    def alter(self) -> Statement:
        self.expect_word("alter")
        if self.accept_word("table", "columnfamily"):
            return self.alter_table()
        if self.accept_word("keyspace", "schema"):
            stmt = AlterKeyspace(name=self.identifier("a keyspace name"))
            self.expect_word("with")
            replication, durable = self.keyspace_options()
            stmt.replication = replication
            stmt.durable_writes = durable
            return stmt
        if self.accept_word("type"):
            return self.alter_type()
        what = self.tok.text.upper()
        if what == "MATERIALIZED":
            what = f"{what} {self.peek().text.upper()}"
        raise Unsupported(f"ALTER {what}")

    def alter_table(self) -> AlterTable:
        stmt = AlterTable()
        stmt.keyspace, stmt.name = self.qualified_name()
        if self.accept_word("add"):
            parenthesized = self.accept_op("(")
            while True:
                name = self.identifier("a column name")
                type_text = self.type_text()
                stmt.added.append(ColumnSpec(name, type_text, self.accept_word("static")))
                if not (parenthesized and self.accept_op(",")):
                    break
            if parenthesized:
                self.expect_op(")")
        elif self.accept_word("drop"):
            if self.accept_op("("):
                while True:
                    stmt.dropped.append(self.identifier("a column name"))
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
            else:
                stmt.dropped.append(self.identifier("a column name"))
            if self.accept_word("using"):
                self.expect_word("timestamp")
                self.constant()
        elif self.accept_word("rename"):
            while True:
                old = self.identifier("a column name")
                self.expect_word("to")
                stmt.renamed.append((old, self.identifier("a column name")))
                if not self.accept_word("and"):
                    break
        elif self.accept_word("with"):
            self.table_options(stmt.options)
        elif self.accept_word("alter"):
            self.identifier("a column name")
            self.expect_word("type")
            stmt.altered_type = self.type_text()
        else:
            raise self.error("ADD, DROP, RENAME, ALTER or WITH")
        return stmt

    def alter_type(self) -> AlterType:
        stmt = AlterType()
        stmt.keyspace, stmt.name = self.qualified_name("a type name")
        if self.accept_word("add"):
            stmt.added.append((self.identifier("a field name"), self.type_text()))
        elif self.accept_word("rename"):
            while True:
                old = self.identifier("a field name")
                self.expect_word("to")
                stmt.renamed.append((old, self.identifier("a field name")))
                if not self.accept_word("and"):
                    break
        elif self.at_word("alter"):
            raise Unsupported("ALTER TYPE ... ALTER (removed from Cassandra in 3.0.11)")
        else:
            raise self.error("ADD or RENAME")
        return stmt

    def if_not_exists(self) -> bool:
        if self.at_word("if"):
            self.advance()
            self.expect_word("not")
            self.expect_word("exists")
            return True
        return False

    def if_exists(self) -> bool:
        if self.at_word("if"):
            self.advance()
            self.expect_word("exists")
            return True
        return False

    def create_keyspace(self) -> CreateKeyspace:
        stmt = CreateKeyspace(if_not_exists=self.if_not_exists())
        stmt.name = self.identifier("a keyspace name")
        self.expect_word("with")
        replication, durable = self.keyspace_options()
        stmt.replication = replication or {}
        stmt.durable_writes = True if durable is None else durable
        return stmt

    def keyspace_options(self) -> tuple[dict[str, str] | None, bool | None]:
        replication: dict[str, str] | None = None
        durable: bool | None = None
        while True:
            option = self.identifier("a keyspace option")
            self.expect_op("=")
            if option == "replication":
                value = self.constant()
                if not isinstance(value, MapLiteral):
                    raise Invalid("replication must be a map literal such as {'class': ...}")
                replication = {str(k): _option_text(v) for k, v in value.items()}
            elif option == "durable_writes":
                flag = self.constant()
                if not isinstance(flag, bool):
                    raise Invalid("durable_writes must be true or false")
                durable = flag
            else:
                raise SyntaxProblem(f"Unknown property '{option}'")
            if not self.accept_word("and"):
                break
        return replication, durable

    def create_table(self) -> CreateTable:
        stmt = CreateTable(if_not_exists=self.if_not_exists())
        stmt.keyspace, stmt.name = self.qualified_name()
        self.expect_op("(")
        while True:
            if self.at_word("primary") and self.peek().word == "key":
                self.advance()
                self.advance()
                self.primary_key(stmt)
            else:
                name = self.identifier("a column name")
                type_text = self.type_text()
                static = self.accept_word("static")
                stmt.columns.append(ColumnSpec(name, type_text, static))
                if self.at_word("primary"):
                    self.advance()
                    self.expect_word("key")
                    if stmt.partition_key:
                        raise Invalid("Multiple PRIMARY KEYs specified (exactly one required)")
                    stmt.partition_key = [name]
            if not self.accept_op(",") or self.at_op(")"):
                break  # Cassandra accepts a trailing comma before the closing parenthesis
        self.expect_op(")")
        if self.accept_word("with"):
            self.table_options(stmt.options, stmt.descending)
        return stmt

    def table_options(self, options: dict[str, Any], descending: set[str] | None = None) -> None:
        while True:
            if self.at_word("clustering") and descending is not None:
                self.advance()
                self.expect_word("order")
                self.expect_word("by")
                self.expect_op("(")
                while True:
                    column = self.identifier("a clustering column")
                    if self.accept_word("desc"):
                        descending.add(column)
                    else:
                        self.accept_word("asc")
                    options.setdefault("_clustering_order", []).append(column)
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
            elif self.at_word("compact"):
                raise Unsupported("COMPACT STORAGE")
            else:
                option = self.identifier("a table option")
                self.expect_op("=")
                options[option] = self.constant()
            if not self.accept_word("and"):
                break

    def primary_key(self, stmt: CreateTable) -> None:
        if stmt.partition_key:
            raise Invalid("Multiple PRIMARY KEYs specified (exactly one required)")
        self.expect_op("(")
        if self.accept_op("("):
            while True:
                stmt.partition_key.append(self.identifier("a partition key column"))
                if not self.accept_op(","):
                    break
            self.expect_op(")")
        else:
            stmt.partition_key.append(self.identifier("a partition key column"))
        while self.accept_op(","):
            stmt.clustering.append(self.identifier("a clustering column"))
        self.expect_op(")")

    def type_text(self) -> str:
        """A type as text for ``types.parse_type``: names lower-cased unless quoted."""
        if self.tok.kind == "string":
            return self.advance().text  # a custom type given by its Cassandra class name
        parts: list[str] = []
        depth = 0
        while True:
            token = self.tok
            if token.kind in ("ident", "qident"):
                parts.append(token.text.lower() if token.kind == "ident" else token.text)
                self.advance()
                if self.at_op(".") and self.peek().kind in ("ident", "qident"):
                    self.advance()
                    parts.pop()  # a keyspace-qualified UDT: the name that follows is the type
                    continue
            else:
                raise self.error("a type")
            if self.accept_op("<"):
                parts.append("<")
                depth += 1
                continue
            while depth and self.accept_op(">"):
                parts.append(">")
                depth -= 1
            if depth and self.accept_op(","):
                parts.append(",")
                continue
            if depth:
                raise self.error("'>' or ','")
            return "".join(parts)

    def drop(self) -> Statement:
        self.expect_word("drop")
        if self.accept_word("keyspace", "schema"):
            if_exists = self.if_exists()
            return DropKeyspace(name=self.identifier("a keyspace name"), if_exists=if_exists)
        if self.accept_word("table", "columnfamily"):
            if_exists = self.if_exists()
            ks, name = self.qualified_name()
            return DropTable(keyspace=ks, name=name, if_exists=if_exists)
        if self.accept_word("type"):
            if_exists = self.if_exists()
            ks, name = self.qualified_name("a type name")
            return DropType(keyspace=ks, name=name, if_exists=if_exists)
        if self.accept_word("index"):
            if_exists = self.if_exists()
            ks, name = self.qualified_name("an index name")
            return DropIndex(keyspace=ks, name=name, if_exists=if_exists)
        raise Unsupported(f"DROP {self.tok.text.upper()}")

    def using(self) -> tuple[Term | None, Term | None]:
        ttl: Term | None = None
        timestamp: Term | None = None
        if self.accept_word("using"):
            while True:
                if self.accept_word("ttl"):
                    ttl = self.term()
                elif self.accept_word("timestamp"):
                    timestamp = self.term()
                else:
                    raise self.error("TTL or TIMESTAMP")
                if not self.accept_word("and"):
                    break
        return ttl, timestamp

    def insert(self) -> Insert:
        self.expect_word("insert")
        self.expect_word("into")
        stmt = Insert()
        stmt.keyspace, stmt.table = self.qualified_name()
        if self.accept_word("json"):
            stmt.json = self.term()
            if self.accept_word("default"):
                if self.accept_word("unset"):
                    stmt.json_default_unset = True
                else:
                    self.expect_word("null")
            stmt.if_not_exists = self.if_not_exists()
            stmt.ttl, stmt.timestamp = self.using()
            if not stmt.if_not_exists:
                stmt.if_not_exists = self.if_not_exists()
            return stmt
        self.expect_op("(")
        while True:
            stmt.columns.append(self.identifier("a column name"))
            if not self.accept_op(","):
                break
        self.expect_op(")")
        self.expect_word("values")
        self.expect_op("(")
        while True:
            stmt.values.append(self.term())
            if not self.accept_op(","):
                break
        self.expect_op(")")
        if len(stmt.values) != len(stmt.columns):
            raise Invalid(
                f"Unmatched column names/values: {len(stmt.columns)} columns, "
                f"{len(stmt.values)} values"
            )
        stmt.if_not_exists = self.if_not_exists()
        stmt.ttl, stmt.timestamp = self.using()
        if not stmt.if_not_exists:
            stmt.if_not_exists = self.if_not_exists()
        return stmt

    def update(self) -> Update:
        self.expect_word("update")
        stmt = Update()
        stmt.keyspace, stmt.table = self.qualified_name()
        stmt.ttl, stmt.timestamp = self.using()
        self.expect_word("set")
        while True:
            stmt.assignments.append(self.assignment())
            if not self.accept_op(","):
                break
        stmt.where = self.where()
        stmt.if_exists, stmt.conditions = self.conditions()
        return stmt

    def assignment(self) -> Assignment:
        column = self.identifier("a column name")
        if self.accept_op("."):
            field_name = self.identifier("a field name")
            self.expect_op("=")
            return Assignment(column, "set_field", self.term(), field=field_name)
        if self.accept_op("["):
            key = self.term()
            self.expect_op("]")
            self.expect_op("=")
            return Assignment(column, "set_key", self.term(), key)
        self.expect_op("=")
        if (
            self.tok.kind in ("ident", "qident")
            and self.peek().kind == "op"
            and (self.peek().text in "+-" and self._ident_text(self.tok) == column)
        ):
            self.advance()
            op = self.advance().text
            return Assignment(column, "add" if op == "+" else "remove", self.term())
        value = self.term()
        if self.accept_op("+"):
            other = self.identifier("a column name")
            if other != column:
                raise Invalid(
                    f"Only expressions of the form X = <value> + X are supported for {column}"
                )
            return Assignment(column, "prepend", value)
        return Assignment(column, "set", value)

    @staticmethod
    def _ident_text(token: Token) -> str:
        if token.kind == "qident":
            return token.text[1:-1].replace('""', '"')
        return token.text.lower()

    def delete(self) -> Delete:
        self.expect_word("delete")
        stmt = Delete()
        if not self.at_word("from"):
            while True:
                stmt.columns.append(self.identifier("a column name"))
                if self.at_op("["):
                    raise Unsupported("deleting a single collection element")
                if not self.accept_op(","):
                    break
        self.expect_word("from")
        stmt.keyspace, stmt.table = self.qualified_name()
        _, stmt.timestamp = self.using()
        stmt.where = self.where()
        stmt.if_exists, stmt.conditions = self.conditions()
        return stmt

    def at_op(self, op: str) -> bool:
        return self.tok.kind == "op" and self.tok.text == op

    def conditions(self) -> tuple[bool, list[Condition]]:
        if not self.accept_word("if"):
            return False, []
        if self.accept_word("exists"):
            return True, []
        conditions = []
        while True:
            column = self.identifier("a column name")
            if self.at_op("["):
                raise Unsupported("conditions on collection elements")
            if self.accept_word("in"):
                term, terms = self.in_values()
                conditions.append(Condition(column, "IN", term, terms))
            else:
                op = self.comparison(allow_not_equal=True)
                conditions.append(Condition(column, op, self.term()))
            if not self.accept_word("and"):
                break
        return False, conditions

    def comparison(self, *, allow_not_equal: bool = False) -> str:
        token = self.tok
        allowed = (
            ("=", "<", "<=", ">", ">=", "!=") if allow_not_equal else ("=", "<", "<=", ">", ">=")
        )
        if token.kind == "op" and token.text in allowed:
            self.advance()
            return token.text
        if token.word == "like":
            raise Unsupported(token.text.upper())
        raise self.error("one of " + " ".join(allowed) + " IN")

    def in_values(self) -> tuple[Term | None, tuple[Term, ...] | None]:
        if self.accept_op("("):
            terms: list[Term] = []
            if not self.accept_op(")"):
                while True:
                    terms.append(self.term())
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
            return None, tuple(terms)
        return self.term(), None

    def where(self) -> list[Relation]:
        self.expect_word("where")
        return self.relations()

    def relations(self) -> list[Relation]:
        relations = []
        while True:
            if self.at_word("token") and self.peek().text == "(":
                self.advance()
                self.advance()
                columns: list[str] = []
                while True:
                    columns.append(self.identifier("a partition key column"))
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
                op = self.comparison()
                relations.append(Relation(columns[0], op, self.term(), token=tuple(columns)))
            elif self.at_op("("):
                raise Unsupported("multi-column relations")
            else:
                column = self.identifier("a column name")
                if self.at_op("["):
                    raise Unsupported("restrictions on map entries (m[key] = value)")
                if self.accept_word("in"):
                    term, terms = self.in_values()
                    relations.append(Relation(column, "IN", term, terms))
                elif self.accept_word("contains"):
                    op = "CONTAINS KEY" if self.accept_word("key") else "CONTAINS"
                    relations.append(Relation(column, op, self.term()))
                else:
                    op = self.comparison()
                    relations.append(Relation(column, op, self.term()))
            if not self.accept_word("and"):
                return relations

    def select(self) -> Select:
        self.expect_word("select")
        stmt = Select()
        following = self.peek()
        if self.at_word("json") and following.word != "from" and following.text not in (",", "("):
            self.advance()
            stmt.json = True
        following = self.peek()
        if self.at_word("distinct") and following.word != "from" and following.text != ",":
            self.advance()
            stmt.distinct = True
        if self.accept_op("*"):
            stmt.star = True
        else:
            while True:
                stmt.selectors.append(self.selector())
                if not self.accept_op(","):
                    break
        self.expect_word("from")
        stmt.keyspace, stmt.table = self.qualified_name()
        if self.accept_word("where"):
            stmt.where = self.relations()
        if self.accept_word("group"):
            raise Unsupported("GROUP BY")
        if self.accept_word("order"):
            self.expect_word("by")
            while True:
                column = self.identifier("a column name")
                descending = self.accept_word("desc")
                if not descending:
                    self.accept_word("asc")
                stmt.order_by.append((column, descending))
                if not self.accept_op(","):
                    break
        if self.accept_word("per"):
            self.expect_word("partition")
            self.expect_word("limit")
            stmt.per_partition_limit = self.term()
        if self.accept_word("limit"):
            stmt.limit = self.term()
        if self.accept_word("allow"):
            self.expect_word("filtering")
            stmt.allow_filtering = True
        return stmt

    def selector(self) -> Selector:
        expr = self.selector_expr()
        alias = self.identifier("an alias") if self.accept_word("as") else None
        return Selector(expr, alias)

    def selector_expr(self) -> Expr:
        token = self.tok
        if token.kind == "ident" and self.peek().text == "(":
            name = token.text.lower()
            self.advance()
            self.advance()
            if name == "count" and (self.accept_op("*") or self._accept_int_one()):
                self.expect_op(")")
                return Call("count", (), star=True)
            if name == "cast":
                inner = self.selector_expr()
                self.expect_word("as")
                type_text = self.type_text()
                self.expect_op(")")
                return CastExpr(inner, type_text)
            args: list[Expr] = []
            if not self.accept_op(")"):
                while True:
                    args.append(self.selector_expr())
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
            return Call(name, tuple(args))
        if token.kind in ("ident", "qident") and not (
            token.kind == "ident" and token.word in ("true", "false", "null", "nan", "infinity")
        ):
            expr: Expr = ColumnRef(self.identifier("a column name or *"))
            while self.accept_op("."):
                expr = FieldRef(expr, self.identifier("a field name"))
            return expr
        term = self.term()
        assert isinstance(term, Literal | Marker)
        return term

    def _accept_int_one(self) -> bool:
        if self.tok.kind == "int" and self.tok.text == "1":
            self.advance()
            return True
        return False

    def batch(self) -> Batch:
        self.expect_word("begin")
        stmt = Batch()
        if self.accept_word("unlogged"):
            stmt.kind = "UNLOGGED"
        elif self.accept_word("counter"):
            stmt.kind = "COUNTER"
        elif self.accept_word("logged"):
            stmt.kind = "LOGGED"
        self.expect_word("batch")
        ttl, stmt.timestamp = self.using()
        if ttl is not None:
            raise Invalid("A BATCH cannot have a TTL; set it on each statement")
        while not self.at_word("apply"):
            word = self.tok.word
            member: Insert | Update | Delete
            if word == "insert":
                member = self.insert()
            elif word == "update":
                member = self.update()
            elif word == "delete":
                member = self.delete()
            else:
                raise self.error("INSERT, UPDATE, DELETE or APPLY BATCH")
            stmt.statements.append(member)
            self.accept_op(";")
        self.expect_word("apply")
        self.expect_word("batch")
        return stmt

    # terms
    def term(self) -> Term:
        token = self.tok
        if token.kind == "op" and token.text == "?":
            self.advance()
            return self._marker(None)
        if token.kind == "named":
            self.advance()
            name = token.text[1:]
            name = name[1:-1].replace('""', '"') if name.startswith('"') else name.lower()
            return self._marker(name)
        if token.kind == "ident" and self.peek().text == "(":
            name = token.text.lower()
            self.advance()
            self.advance()
            args: list[Term] = []
            if not self.accept_op(")"):
                while True:
                    args.append(self.term())
                    if not self.accept_op(","):
                        break
                self.expect_op(")")
            return FunctionCall(name, tuple(args))
        return Literal(self.constant())

    def _marker(self, name: str | None) -> Marker:
        marker = Marker(self.markers, name)
        self.markers += 1
        return marker

    def constant(self) -> Any:
        token = self.tok
        kind = token.kind
        if kind == "string":
            self.advance()
            return token.text[1:-1].replace("''", "'")
        if kind == "dollar":
            self.advance()
            return token.text[2:-2]
        if kind == "int":
            self.advance()
            return int(token.text)
        if kind == "float":
            self.advance()
            return _number(token.text)
        if kind == "uuid":
            self.advance()
            return uuid.UUID(token.text)
        if kind == "blob":
            self.advance()
            digits = token.text[2:]
            if len(digits) % 2:
                raise SyntaxProblem(f"blob literal {token.text} has an odd number of hex digits")
            return bytes.fromhex(digits)
        if kind == "duration":
            self.advance()
            return self._duration(token.text)
        if kind == "op" and token.text == "-":
            self.advance()
            if self.tok.kind == "duration" or (
                self.tok.kind == "ident" and _ISO_DURATION.match(self.tok.text)
            ):
                return self._duration("-" + self.advance().text)
            value = self.constant()
            if isinstance(value, bool) or not isinstance(value, int | float | decimal.Decimal):
                raise self.error("a number after '-'")
            return -value
        if kind == "ident":
            word = token.word
            if word in ("true", "false"):
                self.advance()
                return word == "true"
            if word == "null":
                self.advance()
                return None
            if word == "nan":
                self.advance()
                return float("nan")
            if word == "infinity":
                self.advance()
                return float("inf")
            if _ISO_DURATION.match(token.text):
                self.advance()
                return self._duration(token.text)
        if kind == "op" and token.text == "[":
            self.advance()
            items: list[Any] = []
            if not self.accept_op("]"):
                while True:
                    items.append(self.constant())
                    if not self.accept_op(","):
                        break
                self.expect_op("]")
            return items
        if kind == "op" and token.text == "{":
            self.advance()
            if self.accept_op("}"):
                return SetLiteral()
            if self._at_field_name():
                fields = UdtLiteral()
                while True:
                    name = self.identifier("a field name")
                    self.expect_op(":")
                    fields[name] = self.constant()
                    if not self.accept_op(","):
                        break
                self.expect_op("}")
                return fields
            first = self.constant()
            if self.accept_op(":"):
                mapping = MapLiteral([(first, self.constant())])
                while self.accept_op(","):
                    key = self.constant()
                    self.expect_op(":")
                    mapping.append((key, self.constant()))
                self.expect_op("}")
                return mapping
            elements = SetLiteral([first])
            while self.accept_op(","):
                elements.append(self.constant())
            self.expect_op("}")
            return elements
        if kind == "op" and token.text == "(":
            self.advance()
            items = []
            while True:
                items.append(self.constant())
                if not self.accept_op(","):
                    break
            self.expect_op(")")
            return TupleLiteral(items)
        raise self.error("a constant or bind marker")

    def _at_field_name(self) -> bool:
        """``{name: ...}`` opens a UDT literal (keywords such as true are map keys)."""
        token = self.tok
        if self.peek().text != ":" or token.kind not in ("ident", "qident"):
            return False
        return token.kind == "qident" or token.word not in (
            "true",
            "false",
            "null",
            "nan",
            "infinity",
        )

    def _duration(self, text: str) -> Any:
        try:
            return parse_duration(text)
        except LiteralError as exc:
            raise Invalid(str(exc)) from None


_ISO_DURATION = re.compile(r"^P(?=\w*\d)[0-9TYMDHSW]+$", re.IGNORECASE)


def _number(text: str) -> float | decimal.Decimal:
    """Floating literals keep their exact digits (a decimal column must not round them)."""
    return decimal.Decimal(text)


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Statement:
    return Parser(text).statement()


def parse(text: str) -> Statement:
    """Parse one statement; results are cached by text, so callers must not mutate them."""
    return _parse_cached(text)
