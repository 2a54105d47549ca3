# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A native scan of one Universal Analytics payload, for the compiled build's hot path.

:func:`scan` reads a payload as :func:`collector.ua.payload_pairs` (fast-query-parsers)
followed by the pair loop of :func:`collector.ua.parse` do, and answers None, rather than
repeat a rule of theirs, for a payload with any of: a key sent twice, a key with ``%``,
``+`` or a byte over 127, a ``%`` not followed by two hex digits, a value that is not UTF-8
once decoded, a value over its length or not of its kind, a ``qt`` that is not a queue
time, an index out of bounds. Such a payload takes that Python path, which stays the
reference: tests/collector/test_uascan.py compares the two on every payload it makes.

What it does not decide it hands back: products, impressions and promotions (``pr…``,
``il…``, ``promo…``) go to ``collector.ua._indexed`` as pairs, in payload order; the checks
across parameters stay in ``collector.ua._finish``.

The parameter table is collector.ua's (:func:`init`, called by that module): nothing about
the protocol is declared here.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_SetItem
from cpython.long cimport PyLong_FromUnsignedLongLong
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

# kinds of a table entry: the parameter kinds of collector.ua.Kind, then the control parameters
cdef enum:
    K_TEXT, K_INT, K_NUM, K_BOOL
    C_V, C_TID, C_T, C_QT, C_Z, C_AIP, C_UIP, C_UA, C_SC, C_GEOID

cdef enum:
    SLOTS = 256  # open addressing, a power of two, at most half full
    MAX_KEY = 8  # a key is packed into one uint64

cdef struct Entry:
    uint64_t key  # 0: empty slot
    int kind
    int max_len  # 0: no limit
    int bit  # which bit of the seen set marks it
    PyObject *field  # the Hit field (borrowed from _fields, which holds it)

cdef Entry _table[SLOTS]
cdef list _fields = []  # keeps the field names the table points to alive
cdef int _entries = 0
cdef bint _ready = False  # a table loaded whole: until then every payload is handed back
cdef long long _max_queue_ms = 0
cdef object _empty = ""
_CONTENT_GROUPS = tuple(f"content_group_{i}" for i in range(6))
_CONTROL_KINDS = {"v": C_V, "tid": C_TID, "t": C_T, "qt": C_QT, "z": C_Z, "aip": C_AIP,
                  "uip": C_UIP, "ua": C_UA, "sc": C_SC, "geoid": C_GEOID}


cdef inline uint64_t _pack(const char *key, Py_ssize_t n) noexcept:
    cdef uint64_t out = 0
    memcpy(&out, key, n)
    return out


cdef inline int _slot(uint64_t key) noexcept:
    return <int>((key * 0x9E3779B97F4A7C15ULL) >> 56)


def init(params, control, Py_ssize_t max_queue_ms):
    """Load the table: ``params`` name → (field, kind value, max length or 0) and the names of
    the control parameters (collector.ua.PARAMS and CONTROL)."""
    global _entries, _max_queue_ms, _ready
    _ready = False
    memset(_table, 0, sizeof(_table))
    _fields.clear()
    _entries = 0
    _max_queue_ms = max_queue_ms
    kinds = {"text": K_TEXT, "integer": K_INT, "number": K_NUM, "boolean": K_BOOL}
    rows = [(name, field, kinds[kind], max_len) for name, (field, kind, max_len) in params.items()]
    for name in control:
        if name not in _CONTROL_KINDS:
            raise ValueError(f"no native handling for the control parameter {name!r}")
        rows.append((name, None, _CONTROL_KINDS[name], 0))
    for name, field, kind, max_len in rows:
        encoded = name.encode("ascii")
        if not 0 < len(encoded) <= MAX_KEY or _entries >= SLOTS // 2:
            raise ValueError(f"parameter {name!r} does not fit the native table")
        _add(_pack(encoded, len(encoded)), kind, max_len, field)
    _ready = True


cdef void _add(uint64_t key, int kind, int max_len, object field):
    global _entries
    cdef int i = _slot(key)
    while _table[i].key != 0:
        if _table[i].key == key:
            raise ValueError("a parameter is in the table twice")
        i = (i + 1) & (SLOTS - 1)
    _fields.append(field)
    _table[i].key = key
    _table[i].kind = kind
    _table[i].max_len = max_len
    _table[i].bit = _entries
    _table[i].field = <PyObject *>field
    _entries += 1


cdef inline Entry *_find(const char *key, Py_ssize_t n) noexcept:
    if n == 0 or n > MAX_KEY:
        return NULL
    cdef uint64_t packed = _pack(key, n)
    cdef int i = _slot(packed)
    while _table[i].key != 0:
        if _table[i].key == packed:
            return &_table[i]
        i = (i + 1) & (SLOTS - 1)
    return NULL


cdef inline int _hex(char c) noexcept:
    if c'0' <= c <= c'9':
        return c - c'0'
    if c'a' <= c <= c'f':
        return c - c'a' + 10
    if c'A' <= c <= c'F':
        return c - c'A' + 10
    return -1


cdef Py_ssize_t _decode(const char *src, Py_ssize_t n, const char **out, char *buffer) noexcept:
    """Percent- and plus-decode ``src`` (into ``buffer``, as long as the payload, when it has
    anything to decode); -1 for a bad escape."""
    cdef Py_ssize_t i
    cdef bint plain = True
    for i in range(n):
        if src[i] == c'%' or src[i] == c'+':
            plain = False
            break
    if plain:
        out[0] = src
        return n
    cdef Py_ssize_t j = 0
    cdef int hi, lo
    i = 0
    while i < n:
        if src[i] == c'+':
            buffer[j] = c' '
        elif src[i] == c'%':
            if i + 2 >= n:
                return -1
            hi = _hex(src[i + 1])
            lo = _hex(src[i + 2])
            if hi < 0 or lo < 0:
                return -1
            buffer[j] = <char>(hi * 16 + lo)
            i += 2
        else:
            buffer[j] = src[i]
        i += 1
        j += 1
    out[0] = buffer
    return j


cdef bint _utf8(const char *s, Py_ssize_t n):
    """Whether ``s`` is UTF-8 (fast-query-parsers fails a pair that is not, ignored or not)."""
    cdef Py_ssize_t i
    for i in range(n):
        if <unsigned char>s[i] >= 0x80:
            try:
                PyUnicode_DecodeUTF8(s, n, NULL)
            except UnicodeDecodeError:
                return False
            return True
    return True


cdef inline bint _digits(const char *s, Py_ssize_t n) noexcept:
    cdef Py_ssize_t i
    for i in range(n):
        if not c'0' <= s[i] <= c'9':
            return False
    return n > 0


cdef inline long long _number(const char *s, Py_ssize_t n) noexcept:
    """The value of ``n`` ASCII digits (at most 18: no overflow)."""
    cdef long long value = 0
    cdef Py_ssize_t i
    for i in range(n):
        value = value * 10 + (s[i] - c'0')
    return value


cdef bint _is_number(const char *s, Py_ssize_t n) noexcept:
    """``^-?[0-9]{1,15}(?:\\.[0-9]{1,15})?\\Z`` (collector.ua's number)."""
    cdef Py_ssize_t i = 0, start
    if n > 0 and s[0] == c'-':
        i = 1
    start = i
    while i < n and c'0' <= s[i] <= c'9':
        i += 1
    if not 1 <= i - start <= 15:
        return False
    if i == n:
        return True
    if s[i] != c'.':
        return False
    i += 1
    start = i
    while i < n and c'0' <= s[i] <= c'9':
        i += 1
    return i == n and 1 <= i - start <= 15


cdef int _index(const char *s, Py_ssize_t n) noexcept:
    """An index's digits as collector.ua._index reads them; 201 when over nine digits."""
    cdef Py_ssize_t i = 0
    while i < n - 1 and s[i] == c'0':
        i += 1
    if n - i > 9:
        return 201
    return <int>_number(s + i, n - i)


def scan(bytes payload):
    """``(fields, version, tracking_id, hit_type, nonce, queue_time_ms, ip_override,
    ua_override, anonymize_ip, indexed)`` of one payload, or None where the Python path must
    decide (see the module's docstring)."""
    cdef const char *data = PyBytes_AS_STRING(payload)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(payload)
    cdef Py_ssize_t start = 0, end = size, seg_end, eq, key_len, raw_len, n, i
    cdef const char *key
    cdef const char *raw
    cdef const char *value
    cdef Entry *entry
    cdef uint64_t seen[4]
    cdef int bit, kind, idx
    cdef char which  # of an indexed key: d, m, g (cd…, cm…, cg…), 0 (handed back)
    cdef long long number
    cdef dict fields = {}
    cdef dict met = None  # the indexed keys met so far
    cdef list indexed = None
    cdef object version = None, tracking_id = _empty, hit_type = _empty, nonce = None
    cdef object ip_override = None, ua_override = None, text, custom
    cdef long long queue_ms = 0
    cdef bint anonymize = False
    # what _decode writes into: the call's own (a value decodes to at most its own length)
    cdef bytearray scratch = bytearray(size)
    cdef char *buffer = scratch
    if not _ready:
        return None
    memset(seen, 0, sizeof(seen))
    while start < end and data[start] == c'\r':
        start += 1
    while end > start and data[end - 1] == c'\r':
        end -= 1
    while start < end:
        seg_end = start
        while seg_end < end and data[seg_end] != c'&':
            seg_end += 1
        if seg_end == start:
            start += 1
            continue
        key = data + start
        eq = start
        while eq < seg_end and data[eq] != c'=':
            eq += 1
        key_len = eq - start
        raw = data + eq + 1 if eq < seg_end else data + seg_end
        raw_len = seg_end - eq - 1 if eq < seg_end else 0
        start = seg_end + 1
        for i in range(key_len):
            if key[i] == c'%' or key[i] == c'+' or <unsigned char>key[i] >= 0x80:
                return None
        entry = _find(key, key_len)
        if entry is NULL:
            if key_len == 0 or key[0] == c'_':  # ignored, once it is known to decode
                n = _decode(raw, raw_len, &value, buffer)
                if n < 0 or not _utf8(value, n):
                    return None
                continue
            if key_len > 2 and key[0] == c'c' and (key[1] == c'd' or key[1] == c'm' or key[1] == c'g') \
                    and _digits(key + 2, key_len - 2):
                which = key[1]
            elif key_len >= 2 and ((key[0] == c'p' and key[1] == c'r')
                                   or (key[0] == c'i' and key[1] == c'l')):  # pr…, promo…, il…
                which = 0
            else:  # not one of ours: ignored, as Google does, once it is known to decode
                n = _decode(raw, raw_len, &value, buffer)
                if n < 0 or not _utf8(value, n):
                    return None
                continue
            name = key[:key_len].decode("ascii")
            if met is None:
                met = {}
            elif name in met:
                return None  # a repeated key: the first value wins on the Python path
            met[name] = None
            n = _decode(raw, raw_len, &value, buffer)
            if n < 0:
                return None
            try:
                text = PyUnicode_DecodeUTF8(value, n, NULL)
            except UnicodeDecodeError:
                return None
            if which == 0:
                if indexed is None:
                    indexed = []
                indexed.append((name, text))
                continue
            idx = _index(key + 2, key_len - 2)
            if idx < 1 or idx > (5 if which == c'g' else 200):
                return None
            if which == c'd':
                if n > 150:
                    return None
                if n:
                    custom = fields.get("custom_dimensions")
                    if custom is None:
                        custom = fields["custom_dimensions"] = {}
                    custom[str(idx)] = text
            elif which == c'm':
                if n:
                    if not _is_number(value, n):
                        return None
                    custom = fields.get("custom_metrics")
                    if custom is None:
                        custom = fields["custom_metrics"] = {}
                    custom[str(idx)] = float(text)
            else:
                if n > 100:
                    return None
                if n:
                    fields[_CONTENT_GROUPS[idx]] = text
            continue
        bit = entry.bit
        if seen[bit >> 6] & (1ULL << (bit & 63)):
            return None  # a repeated key: the first value wins on the Python path
        seen[bit >> 6] |= 1ULL << (bit & 63)
        n = _decode(raw, raw_len, &value, buffer)
        if n < 0:
            return None
        kind = entry.kind
        if kind == K_TEXT:
            if n == 0:
                continue
            if entry.max_len and n > entry.max_len:
                return None
            try:
                text = PyUnicode_DecodeUTF8(value, n, NULL)
            except UnicodeDecodeError:
                return None
            PyDict_SetItem(fields, <object>entry.field, text)
        elif kind == K_INT:
            if n == 0:
                continue
            if n > 18 or not _digits(value, n):
                return None
            number = _number(value, n)
            PyDict_SetItem(fields, <object>entry.field, PyLong_FromUnsignedLongLong(number))
        elif kind == K_BOOL:
            if n == 0:
                continue
            if n != 1 or (value[0] != c'0' and value[0] != c'1'):
                return None
            PyDict_SetItem(fields, <object>entry.field, value[0] == c'1')
        elif kind == K_NUM:
            if n == 0:
                continue
            if not _is_number(value, n):
                return None
            PyDict_SetItem(fields, <object>entry.field, float(value[:n].decode("ascii")))
        else:
            try:
                text = PyUnicode_DecodeUTF8(value, n, NULL)
            except UnicodeDecodeError:
                return None
            if kind == C_V:
                version = text
            elif kind == C_TID:
                tracking_id = text
            elif kind == C_T:
                hit_type = text
            elif kind == C_Z:
                nonce = text
            elif kind == C_QT:
                if not _digits(value, n) or n > 10:
                    return None
                number = _number(value, n)
                if number > _max_queue_ms:
                    return None
                queue_ms = number
            elif kind == C_AIP:
                anonymize = True
            elif kind == C_UIP:
                if n:
                    ip_override = text
                    anonymize = True
            elif kind == C_UA:
                if n:
                    ua_override = text
            elif kind == C_SC:
                if text == "start" or text == "end":
                    fields["session_control"] = text
            elif kind == C_GEOID:
                if n == 2 and (c'a' <= (value[0] | 0x20) <= c'z') and (c'a' <= (value[1] | 0x20) <= c'z'):
                    fields["geo_country"] = text.upper()
    return (fields, version, tracking_id, hit_type, nonce, queue_ms, ip_override, ua_override,
            anonymize, indexed)
