int quic_alloc_placeholder(void);
