"""What the tests share: loopback cameras and servers (`loopback`), the one fake capture
(`captures`), the one wait (`waiting`), a headless browser (`browser`), generated clips (`clips`)."""
