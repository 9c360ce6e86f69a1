"""Connections to the source share one PREFERRED-mode TLS context (workers.source.SourceConnection)."""
import ssl


from workers.source import SourceConnection, connect


def test_preferred_tls_context_is_built_once(source_address):
    first, second = connect(*source_address), connect(*source_address)
    try:
        assert isinstance(first, SourceConnection)
        assert first.ctx is second.ctx is SourceConnection._preferred_tls
        # PREFERRED mode: TLS when offered, no verification, never required
        assert first.ctx.verify_mode == ssl.CERT_NONE and not first.ctx.check_hostname
        assert not first._ssl_required
        with first.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        first.close()
        second.close()


def test_explicit_tls_options_get_their_own_context():
    options = {"verify_mode": "optional"}
    conn = SourceConnection(host="127.0.0.1", port=1, ssl=options, defer_connect=True)
    assert conn.ctx is not SourceConnection._preferred_tls
    assert conn.ctx.verify_mode == ssl.CERT_OPTIONAL
    assert conn._ssl_required
