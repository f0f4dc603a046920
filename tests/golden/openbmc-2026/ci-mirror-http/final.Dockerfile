
# Build the final output image
FROM acme/unit-base:2021-W06-76ffc5b405ed5331
COPY --from=acme/unit-cliutils-cli11:2021-W06-dda4a5b8faea5d4e /usr/local /usr/local
RUN true
COPY --from=acme/unit-dmtf-libspdm:2021-W06-63d549ef356d1429 /usr/local /usr/local
RUN true
COPY --from=acme/unit-libvnc-libvncserver:2021-W06-e37200f9bcbfac31 /usr/local /usr/local
RUN true
COPY --from=acme/unit-nvidia-stdexec:2021-W06-0a9dbb6988fff109 /usr/local /usr/local
RUN true
COPY --from=acme/unit-naios-function2:2021-W06-8f49de37544b19a9 /usr/local /usr/local
RUN true
COPY --from=acme/unit-uscilab-cereal:2021-W06-4c3bea9c4ba8e24d /usr/local /usr/local
RUN true
COPY --from=acme/unit-boost:2021-W06-c88946009246850c /usr/local /usr/local
RUN true
COPY --from=acme/unit-fmtlib-fmt:2021-W06-1f91a0234d8bb52b /usr/local /usr/local
RUN true
COPY --from=acme/unit-google-googletest:2021-W06-00f84410ad4aa963 /usr/local /usr/local
RUN true
COPY --from=acme/unit-json-c-json-c:2021-W06-a7a00c7bb3084c59 /usr/local /usr/local
RUN true
COPY --from=acme/unit-leethomason-tinyxml2:2021-W06-f5fbf3621ef25820 /usr/local /usr/local
RUN true
COPY --from=acme/unit-libgpiod:2021-W06-3b773438d826dfc2 /usr/local /usr/local
RUN true
COPY --from=acme/unit-nghttp2-nghttp2:2021-W06-6cea07138d7a7edf /usr/local /usr/local
RUN true
COPY --from=acme/unit-nlohmann-json:2021-W06-218631bb188c107f /usr/local /usr/local
RUN true
COPY --from=acme/unit-open-power-pdbg:2021-W06-013391d8049bc31c /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-gpioplus:2021-W06-e851bbadf855f1f9 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-libpeci:2021-W06-08b24e0f095520a5 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-libpldm:2021-W06-fe67aff22f987e5f /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-phosphor-dbus-interfaces:2021-W06-c6e2135ca1963620 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-phosphor-logging:2021-W06-e409a4af7bdc6158 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-phosphor-objmgr:2021-W06-48b57bb813e3f038 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-sdbusplus:2021-W06-4ee58ff1d42db3fc /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-sdeventplus:2021-W06-ae80492f0305ef75 /usr/local /usr/local
RUN true
COPY --from=acme/unit-openbmc-stdplus:2021-W06-adab29474c8d29eb /usr/local /usr/local
RUN true
COPY --from=acme/unit-tristanpenman-valijson:2021-W06-c79d20cb329e01d7 /usr/local /usr/local
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
