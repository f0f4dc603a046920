
# Build the final output image
FROM openbmc/ubuntu-unit-test-base:2021-W06-2e8f7b8a8cfe2675
COPY --from=openbmc/ubuntu-unit-test-cliutils-cli11:2021-W06-075c7b8961f69169 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-dmtf-libspdm:2021-W06-e661932378f06867 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-libvnc-libvncserver:2021-W06-4bf451b82d510a73 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nvidia-stdexec:2021-W06-4a2cabfc18e7a909 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-naios-function2:2021-W06-3a45a5fbecf17e3d /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-uscilab-cereal:2021-W06-ec8a6dff6c899b6c /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-boost:2021-W06-1f56615c936fd95f /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-fmtlib-fmt:2021-W06-1af7fdc83efc9865 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-google-googletest:2021-W06-55bdc6ac5d19d115 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-json-c-json-c:2021-W06-82173622583592b5 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-leethomason-tinyxml2:2021-W06-b7f9558cece48683 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-libgpiod:2021-W06-70916e945d473713 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nghttp2-nghttp2:2021-W06-d0fcccf60b0f9be2 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-nlohmann-json:2021-W06-c57fcfe563687c76 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-open-power-pdbg:2021-W06-f978f59aacaf377f /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-gpioplus:2021-W06-4ab3ba8dc4f81b15 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpeci:2021-W06-bd5bd1a00d32d763 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-libpldm:2021-W06-015cf9a0b0d87b26 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-dbus-interfaces:2021-W06-4b0eefa4f53fcdb5 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-logging:2021-W06-c9d5ea9a783464e2 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-phosphor-objmgr:2021-W06-ebd86d8463a402fb /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdbusplus:2021-W06-4deb280055beb872 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-sdeventplus:2021-W06-53d40bfcde9ced60 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-openbmc-stdplus:2021-W06-a9f88ef8dd6299d5 /usr/local /usr/local
RUN true
COPY --from=openbmc/ubuntu-unit-test-tristanpenman-valijson:2021-W06-fdfa7c58ca012aba /usr/local /usr/local
RUN true


# Some of our infrastructure still relies on the presence of this file
# even though it is no longer needed to rebuild the docker environment
# NOTE: The file is sorted to ensure the ordering is stable.
RUN echo 'CLIUtils/CLI11:v2.6.1,DMTF/libspdm:3.8.2,LibVNC/libvncserver:LibVNCServer-0.9.15,NVIDIA/stdexec:0a6c3fc4324aed2ce291d49dd228cc3619b24dad,Naios/function2:4.2.4,USCiLab/cereal:v1.3.2,boost:1.90.0,fmtlib/fmt:11.2.0,google/googletest:v1.16.0,json-c/json-c:json-c-0.18-20240915,leethomason/tinyxml2:11.0.0,libgpiod:1.6.5,nghttp2/nghttp2:v1.68.0,nlohmann/json:v3.12.0,open-power/pdbg:55288ef80d797e2f60cf3d46fb2c6e420ec0dddf,openbmc/gpioplus:0ca769233da020d2041c807ecc0b0286e002800c,openbmc/libpeci:b15c20f22a2d9d768887902b2deb128e2d60328b,openbmc/libpldm:1029114549dccf159715547e708f350690a0cdc6,openbmc/phosphor-dbus-interfaces:9325f7dbe6ca1f2a61229eb0f7b2c096cb0c529f,openbmc/phosphor-logging:5443afa8c3876c84920998fc3e9acbe746430493,openbmc/phosphor-objmgr:753766a950d0821cfcd64fe430386f40b60b6cf7,openbmc/sdbusplus:e5be23b68825a78ed05cbc98e37685a1bbdd83d3,openbmc/sdeventplus:5871e9ad0001685328d073edd7e5266b9645d446,openbmc/stdplus:3e7e484d427b54a15b62f03621aeb39b10eb14d6,tristanpenman/valijson:v1.0.5,' > /tmp/depcache

# Ensure the group, user, and home directory are created (or rename them if
# they already exist).
RUN if grep -q ":0:" /etc/group ; then         groupmod -n root $(awk -F : '{ if ($3 == 0) { print $1 } }' /etc/group) ;     else         groupadd -f -g 0 root ;     fi
RUN mkdir -p "/"
RUN if grep -q ":0:" /etc/passwd ; then         usermod -l root -d /root -m $(awk -F : '{ if ($3 == 0) { print $1 } }' /etc/passwd) ;     else         useradd -d /root -m -u 0 -g 0 root ;     fi
RUN sed -i '1iDefaults umask=000' /etc/sudoers
RUN echo "root ALL=(ALL) NOPASSWD: ALL" >>/etc/sudoers

# Ensure user has ability to write to /usr/local for different tool
# and data installs
RUN chown -R root:root /usr/local/share

# Update library cache
RUN ldconfig



RUN /bin/bash
