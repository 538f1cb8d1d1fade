int quic_alloc_placeholder(void){return 0;}
