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
from .types import SetLiteral

__all__ = [
    "Assignment",
    "Batch",
    "Condition",
    "CreateKeyspace",
    "CreateTable",
    "Delete",
    "DropKeyspace",
    "DropTable",
    "FunctionCall",
    "Insert",
    "Literal",
    "Marker",
    "Relation",
    "Select",
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
    column: str
    op: str  # = < <= > >= IN
    term: Term | None = None  # a single term, or a marker bound to a whole IN list
    terms: tuple[Term, ...] | None = None  # IN (a, b, c)


@dataclass(frozen=True, slots=True)
class Condition:
    column: str
    op: str  # = != < <= > >= IN
    term: Term | None = None
    terms: tuple[Term, ...] | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    column: str
    kind: str  # set | add | prepend | remove | set_key
    term: Term
    key: Term | None = None


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
class Insert(Statement):
    keyspace: str | None = None
    table: str = ""
    columns: list[str] = field(default_factory=list)
    values: list[Term] = field(default_factory=list)
    if_not_exists: bool = False
    ttl: Term | None = None
    timestamp: Term | None = None


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


@dataclass(slots=True)
class Selector:
    column: str | None  # None for COUNT(*)
    alias: str | None = None
    count: bool = False


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
  | (?P<float>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<int>\d+(?![\w.]))
  | (?P<ident>[a-zA-Z_][a-zA-Z0-9_]*)
  | (?P<named>:(?:[a-zA-Z_][a-zA-Z0-9_]*|"(?:[^"]|"")+"))
  | (?P<op><=|>=|!=|[-+(),;.*=<>?\[\]{}:])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # ident qident string int float uuid blob named op end
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
    "alter": "ALTER",
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
            f"{_where(self.text, token.pos)} mismatched input '{shown}' expecting {expecting}"
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

    def qualified_name(self) -> tuple[str | None, str]:
        first = self.identifier("a table name")
        if self.accept_op("."):
            return first, self.identifier("a table name")
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
        what = self.tok.text.upper()
        if what == "CUSTOM" or what == "MATERIALIZED":
            what = f"{what} {self.peek().text.upper()}"
        raise Unsupported(f"CREATE {what}")

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
        while True:
            option = self.identifier("a keyspace option")
            self.expect_op("=")
            if option == "replication":
                value = self.constant()
                if not isinstance(value, dict):
                    raise Invalid("replication must be a map literal such as {'class': ...}")
                stmt.replication = {str(k): _option_text(v) for k, v in value.items()}
            elif option == "durable_writes":
                flag = self.constant()
                if not isinstance(flag, bool):
                    raise Invalid("durable_writes must be true or false")
                stmt.durable_writes = flag
            else:
                raise Invalid(f"Unknown keyspace option '{option}'")
            if not self.accept_word("and"):
                break
        return stmt

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
            if not self.accept_op(","):
                break
        self.expect_op(")")
        if self.accept_word("with"):
            while True:
                if self.at_word("clustering"):
                    self.advance()
                    self.expect_word("order")
                    self.expect_word("by")
                    self.expect_op("(")
                    while True:
                        column = self.identifier("a clustering column")
                        if self.accept_word("desc"):
                            stmt.descending.add(column)
                        else:
                            self.accept_word("asc")
                        stmt.options.setdefault("_clustering_order", []).append(column)
                        if not self.accept_op(","):
                            break
                    self.expect_op(")")
                elif self.at_word("compact"):
                    raise Unsupported("COMPACT STORAGE")
                else:
                    option = self.identifier("a table option")
                    self.expect_op("=")
                    stmt.options[option] = self.constant()
                if not self.accept_word("and"):
                    break
        return stmt

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
        parts: list[str] = []
        depth = 0
        while True:
            token = self.tok
            if token.kind in ("ident", "qident"):
                parts.append(token.text.lower())
                self.advance()
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
        if self.at_word("json"):
            raise Unsupported("INSERT JSON")
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
        if token.word == "contains" or token.word == "like":
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
                raise Unsupported("token() restrictions")
            if self.at_op("("):
                raise Unsupported("multi-column relations")
            column = self.identifier("a column name")
            if self.accept_word("in"):
                term, terms = self.in_values()
                relations.append(Relation(column, "IN", term, terms))
            else:
                op = self.comparison()
                relations.append(Relation(column, op, self.term()))
            if not self.accept_word("and"):
                return relations

    def select(self) -> Select:
        self.expect_word("select")
        stmt = Select()
        if self.accept_word("json"):
            raise Unsupported("SELECT JSON")
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
        token = self.tok
        if token.word == "count" and self.peek().text == "(":
            self.advance()
            self.advance()
            if not (self.accept_op("*") or self.accept_op("1") or self._accept_int_one()):
                raise Unsupported("COUNT of a column")
            self.expect_op(")")
            alias = self.identifier("an alias") if self.accept_word("as") else None
            return Selector(None, alias, count=True)
        if token.kind in ("ident", "qident") and self.peek().text == "(":
            raise Unsupported(f"the selector function {token.text}()")
        column = self.identifier("a column name or *")
        alias = self.identifier("an alias") if self.accept_word("as") else None
        return Selector(column, alias)

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
            raise Unsupported("COUNTER BATCH")
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
            if name not in ("now", "uuid", "totimestamp", "currenttimestamp", "todate"):
                raise Unsupported(f"the function {token.text}()")
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
        if kind == "op" and token.text == "-":
            self.advance()
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
            first = self.constant()
            if self.accept_op(":"):
                mapping = {_hashable(first): self.constant()}
                while self.accept_op(","):
                    key = self.constant()
                    self.expect_op(":")
                    mapping[_hashable(key)] = self.constant()
                self.expect_op("}")
                return mapping
            elements = SetLiteral([first])
            while self.accept_op(","):
                elements.append(self.constant())
            self.expect_op("}")
            return elements
        if kind == "op" and token.text == "(":
            raise Unsupported("tuple literals")
        raise self.error("a constant or bind marker")


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        raise Unsupported("collections as map keys")
    return value


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
