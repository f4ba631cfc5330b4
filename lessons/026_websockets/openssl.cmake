# Lesson 026's extra build rule: OpenSSL's libcrypto (the handshake's SHA-1 and base64),
# linked into this lesson only (Debian: libssl-dev, which ./tutorial installs). Without it,
# configuring stops here with what to install.
find_package(OpenSSL)
if(NOT OPENSSL_FOUND OR NOT TARGET OpenSSL::Crypto)
  message(FATAL_ERROR "lesson 026 needs OpenSSL's libcrypto (SHA-1 for the WebSocket "
                      "handshake): apt-get install libssl-dev (./tutorial installs it)")
endif()
target_link_libraries(${name}_core PUBLIC OpenSSL::Crypto)
