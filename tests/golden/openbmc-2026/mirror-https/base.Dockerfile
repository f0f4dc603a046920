
FROM public.ecr.aws/ubuntu/ubuntu:resolute

RUN echo "deb https://mirror.example/ubuntu         $(. /etc/os-release && echo $VERSION_CODENAME)         main restricted universe multiverse" > /etc/apt/sources.list && \
    echo "deb https://mirror.example/ubuntu         $(. /etc/os-release && echo $VERSION_CODENAME)-updates             main restricted universe multiverse" >> /etc/apt/sources.list && \
    echo "deb https://mirror.example/ubuntu         $(. /etc/os-release && echo $VERSION_CODENAME)-security             main restricted universe multiverse" >> /etc/apt/sources.list && \
    echo "deb https://mirror.example/ubuntu         $(. /etc/os-release && echo $VERSION_CODENAME)-proposed             main restricted universe multiverse" >> /etc/apt/sources.list && \
    echo "deb https://mirror.example/ubuntu         $(. /etc/os-release && echo $VERSION_CODENAME)-backports             main restricted universe multiverse" >> /etc/apt/sources.list


# Temporarily disable certificate verification to install ca-certificates
RUN echo 'Acquire::https::Verify-Peer "false";' > /etc/apt/apt.conf.d/99temp-no-verify && \
    apt-get update && \
    apt-get install -y --no-install-recommends ca-certificates && \
    rm /etc/apt/apt.conf.d/99temp-no-verify


ENV DEBIAN_FRONTEND=noninteractive

ENV PYTHONPATH="/usr/local/lib/python3.10/site-packages/"

# Sometimes the ubuntu key expires and we need a way to force an execution
# of the apt-get commands for the dbgsym-keyring.  When this happens we see
# an error like: "Release: The following signatures were invalid:"
# Insert a bogus echo that we can change here when we get this error to force
# the update.
RUN echo "ubuntu keyserver rev as of 2025-11-17"



RUN apt-get update && apt-get dist-upgrade -yy && apt-get install -yy     abi-compliance-checker     abi-dumper     autoconf     autoconf-archive     bison     cmake     curl     dbus     device-tree-compiler     doxygen     flex     git     glib-2.0     gnupg     iproute2     iputils-ping     libaudit-dev     libc6-dbg     libc6-dev     libcjson-dev     libconfig++-dev     libcryptsetup-dev     libcurl4-openssl-dev     libdbus-1-dev     libevdev-dev     libi2c-dev     libjpeg-dev     libjson-perl     libldap2-dev     libmimetic-dev     libmpfr-dev     libnl-3-dev     libnl-genl-3-dev     libpam0g-dev     libpciaccess-dev     libperlio-gzip-perl     libpng-dev     libprotobuf-dev     libsnmp-dev     libssl-dev     libsystemd-dev     libtool     liburing-dev     libxml2-utils     libxml-simple-perl     lsb-release     ninja-build     pkg-config     protobuf-compiler     python3     python3-dev    python3-git     python3-mako     python3-pip     python3-protobuf     python3-setuptools     python3-socks     python3-yaml     qemu-user     qemu-user-binfmt     rsync     shellcheck     socat     software-properties-common     sudo     systemd     systemd-dev     valgrind     vim     wget     xxd

# Add the ubuntu-toolchain-r repository for later versions of GCC and install.
RUN add-apt-repository ppa:ubuntu-toolchain-r/ppa &&     apt-get update &&     apt-get install -y         gcc-15         gcc-15-arm-linux-gnueabihf         gcc-15-x86-64-linux-gnu         g++-15         g++-15-arm-linux-gnueabihf         g++-15-x86-64-linux-gnu         libstdc++-15-dev

RUN update-alternatives --install /usr/bin/gcc gcc /usr/bin/gcc-15 15   --slave /usr/bin/g++ g++ /usr/bin/g++-15   --slave /usr/bin/gcov gcov /usr/bin/gcov-15   --slave /usr/bin/gcov-dump gcov-dump /usr/bin/gcov-dump-15   --slave /usr/bin/gcov-tool gcov-tool /usr/bin/gcov-tool-15
RUN update-alternatives --remove cpp /usr/bin/cpp &&     update-alternatives --install /usr/bin/cpp cpp /usr/bin/cpp-15 15
RUN update-alternatives --install /usr/bin/x86_64-linux-gnu-gcc x86_64-linux-gnu-gcc /usr/bin/x86_64-linux-gnu-gcc-15 15   --slave /usr/bin/x86_64-linux-gnu-g++ x86_64-linux-gnu-g++ /usr/bin/x86_64-linux-gnu-g++-15   --slave /usr/bin/x86_64-linux-gnu-cpp x86_64-linux-gnu-cpp /usr/bin/x86_64-linux-gnu-cpp-15
RUN update-alternatives --install /usr/bin/arm-linux-gnueabihf-gcc arm-linux-gnueabihf-gcc /usr/bin/arm-linux-gnueabihf-gcc-15 15   --slave /usr/bin/arm-linux-gnueabihf-g++ arm-linux-gnueabihf-g++ /usr/bin/arm-linux-gnueabihf-g++-15   --slave /usr/bin/arm-linux-gnueabihf-cpp arm-linux-gnueabihf-cpp /usr/bin/arm-linux-gnueabihf-cpp-15

# Set up LLVM apt repository.
RUN bash -c "$(wget -O - https://apt.llvm.org/llvm.sh)" -- 21 -m https://apt.llvm.org

# Install extra clang tools
RUN apt-get install -y         clang-21         clang-format-21         clang-tidy-21         lld-21

RUN update-alternatives --install /usr/bin/clang clang /usr/bin/clang-21 1000   --slave /usr/bin/clang++ clang++ /usr/bin/clang++-21   --slave /usr/bin/clang-tidy clang-tidy /usr/bin/clang-tidy-21   --slave /usr/bin/clang-apply-replacements clang-apply-replacements         /usr/bin/clang-apply-replacements-21   --slave /usr/bin/clang-format clang-format /usr/bin/clang-format-21   --slave /usr/bin/run-clang-tidy run-clang-tidy.py         /usr/bin/run-clang-tidy-21   --slave /usr/bin/scan-build scan-build /usr/bin/scan-build-21   --slave /usr/bin/lld lld /usr/bin/lld-21

# Install later versions of nodejs.
RUN curl -fsSL https://deb.nodesource.com/gpgkey/nodesource.gpg.key |         gpg --dearmor -o /usr/share/keyrings/nodesource.gpg
RUN echo "deb [signed-by=/usr/share/keyrings/nodesource.gpg] https://deb.nodesource.com/node_24.x nodistro main" |         tee /etc/apt/sources.list.d/nodesource.list
RUN apt-get update && apt-get install -y nodejs


# Use --ignore-installed cryptography to avoid conflicts with system-installed
# cryptography package that lacks pip RECORD file and cannot be uninstalled.
RUN pip3 install --break-system-packages --ignore-installed cryptography         ast-grep-cli         beautysh         black         codespell         flake8         gcovr         gitlint         inflection         isoduration         isort         jsonschema         meson==1.11.2         redfish_service_validator         referencing         requests

ENV NODE_PATH="/usr/lib/node_modules"
RUN npm install -g         eslint@latest eslint-config@latest         @eslint/json@latest         markdownlint-cli@latest         prettier@latest
