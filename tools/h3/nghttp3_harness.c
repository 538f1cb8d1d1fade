/* Feeds stream bytes ("who sid fin|nofin hex" lines on stdin) into an nghttp3 0.8.0 connection
   (the HTTP/3 library of ngtcp2's gtlsclient/gtlsserver) and prints what nghttp3 reports, and
   the bytes nghttp3 itself writes. Source of the nghttp3 vectors in
   Tests/QuicHTTP3Tests/ConnectionTests.swift.

     apt-get install libnghttp3-dev
     cc -o /tmp/nghttp3_harness tools/h3/nghttp3_harness.c -lnghttp3
     /tmp/nghttp3_harness server < lines.txt   # nghttp3 server reads "client" lines, then answers
     /tmp/nghttp3_harness client < lines.txt   # nghttp3 client sends a GET, reads "server" lines */
#include <nghttp3/nghttp3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_rc(const char *what, nghttp3_rcbuf *rc) {
  nghttp3_vec v = nghttp3_rcbuf_get_buf(rc);
  printf("%s", what); fwrite(v.base, 1, v.len, stdout);
}
static int recv_header(nghttp3_conn *c, int64_t sid, int32_t tok, nghttp3_rcbuf *n, nghttp3_rcbuf *v, uint8_t f, void *u, void *su) {
  printf("  header %lld ", (long long)sid); print_rc("", n); print_rc(": ", v); printf("\n"); return 0; }
static int end_headers(nghttp3_conn *c, int64_t sid, int fin, void *u, void *su) { printf("  end_headers %lld fin=%d\n", (long long)sid, fin); return 0; }
static int recv_data(nghttp3_conn *c, int64_t sid, const uint8_t *d, size_t n, void *u, void *su) {
  printf("  data %lld \"", (long long)sid); fwrite(d, 1, n, stdout); printf("\"\n"); return 0; }
static int end_stream(nghttp3_conn *c, int64_t sid, void *u, void *su) { printf("  end_stream %lld\n", (long long)sid); return 0; }
static int stop_sending(nghttp3_conn *c, int64_t sid, uint64_t e, void *u, void *su) { printf("  stop_sending %lld 0x%llx\n", (long long)sid, (unsigned long long)e); return 0; }
static int reset_stream(nghttp3_conn *c, int64_t sid, uint64_t e, void *u, void *su) { printf("  reset_stream %lld 0x%llx\n", (long long)sid, (unsigned long long)e); return 0; }

static const char body[] = "hello from nghttp3";
static nghttp3_ssize read_body(nghttp3_conn *c, int64_t sid, nghttp3_vec *vec, size_t n, uint32_t *flags, void *u, void *su) {
  vec[0].base = (uint8_t *)body; vec[0].len = strlen(body); *flags |= NGHTTP3_DATA_FLAG_EOF; return 1; }

static void flush(nghttp3_conn *conn, const char *who) {
  for (;;) {
    int64_t sid = -1; int fin = 0; nghttp3_vec vec[16];
    nghttp3_ssize n = nghttp3_conn_writev_stream(conn, &sid, &fin, vec, 16);
    if (n < 0) { printf("writev error %s\n", nghttp3_strerror((int)n)); exit(1); }
    if (sid < 0) break;
    size_t total = 0;
    printf("%s %lld %s ", who, (long long)sid, fin ? "fin" : "nofin");
    for (nghttp3_ssize i = 0; i < n; i++) { for (size_t j = 0; j < vec[i].len; j++) printf("%02x", vec[i].base[j]); total += vec[i].len; }
    printf("\n");
    nghttp3_conn_add_write_offset(conn, sid, total);
    nghttp3_conn_add_ack_offset(conn, sid, total);
    if (total == 0 && !fin) break;
  }
}

#define NV(n, v) { (uint8_t *)n, (uint8_t *)v, sizeof(n) - 1, sizeof(v) - 1, 0 }

int main(int argc, char **argv) {
  int server = argc > 1 && strcmp(argv[1], "server") == 0;
  nghttp3_callbacks cb = {0};
  cb.recv_header = recv_header; cb.end_headers = end_headers; cb.recv_data = recv_data;
  cb.recv_trailer = recv_header; cb.end_trailers = end_headers;
  cb.end_stream = end_stream; cb.stop_sending = stop_sending; cb.reset_stream = reset_stream;
  nghttp3_settings s; nghttp3_settings_default(&s);
  s.qpack_max_dtable_capacity = 4096; s.qpack_blocked_streams = 100;  /* as the ngtcp2 examples set them */
  nghttp3_conn *conn;
  int rv = server ? nghttp3_conn_server_new(&conn, &cb, &s, NULL, NULL) : nghttp3_conn_client_new(&conn, &cb, &s, NULL, NULL);
  if (rv) { printf("new: %s\n", nghttp3_strerror(rv)); return 1; }
  if (server) nghttp3_conn_set_max_client_streams_bidi(conn, 100);
  int base = server ? 3 : 2;
  nghttp3_conn_bind_control_stream(conn, base);
  nghttp3_conn_bind_qpack_streams(conn, base + 4, base + 8);
  if (!server) {
    nghttp3_nv nva[] = { NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "localhost:4433"),
                         NV(":path", "/index.html"), NV("user-agent", "nghttp3/ngtcp2 client") };
    rv = nghttp3_conn_submit_request(conn, 0, nva, 5, NULL, NULL);
    if (rv) { printf("submit_request: %s\n", nghttp3_strerror(rv)); return 1; }
  }
  flush(conn, server ? "server" : "client");
  char who[16], fin[8]; long long sid; static char hex[1 << 20];
  while (scanf("%15s %lld %7s %1048575s", who, &sid, fin, hex) == 4) {
    if (strcmp(who, server ? "client" : "server") != 0) continue;
    size_t len = strlen(hex) / 2; uint8_t *buf = malloc(len + 1);
    for (size_t i = 0; i < len; i++) sscanf(hex + 2 * i, "%2hhx", &buf[i]);
    printf("read %s %lld %s (%zu bytes)\n", who, sid, fin, len);
    nghttp3_ssize n = nghttp3_conn_read_stream(conn, sid, buf, len, strcmp(fin, "fin") == 0);
    if (n < 0) { printf("  read_stream ERROR %s\n", nghttp3_strerror((int)n)); return 2; }
    free(buf);
  }
  if (server) {
    nghttp3_nv nva[] = { NV(":status", "200"), NV("server", "nghttp3/ngtcp2 server"), NV("content-type", "text/plain"),
                         NV("content-length", "18") };
    nghttp3_data_reader dr = { read_body };
    rv = nghttp3_conn_submit_response(conn, 0, nva, 4, &dr);
    if (rv) { printf("submit_response: %s\n", nghttp3_strerror(rv)); return 1; }
    flush(conn, "server");
  }
  nghttp3_conn_del(conn);
  return 0;
}
