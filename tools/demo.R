# `make demo`: the torch documentation's examples, run on R arrays.
library(convtranspose)
set.seed(1)
show <- function(label, value) cat(sprintf("%-58s %s\n", label, paste(value, collapse = " ")))

m <- nn_conv_transpose2d(16, 33, 3, stride = 2)
print(m)
m <- nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))
print(m)
input <- array(rnorm(20 * 16 * 50 * 100), c(20, 16, 50, 100))
elapsed <- system.time(output <- m(input))[["elapsed"]]
show("dim(m(input)), input dim 20 16 50 100:", dim(output))
cat(sprintf("%-58s %.3f s on %d threads\n", "time for that call:", elapsed,
            cvt_get_num_threads()))

m <- nn_conv_transpose1d(32, 16, 2)
show("nn_conv_transpose1d(32, 16, 2) on dim 10 32 2:", dim(m(array(rnorm(640), c(10, 32, 2)))))

upsample <- nn_conv_transpose2d(16, 16, 3, stride = 2, padding = 1)
h <- array(rnorm(16 * 6 * 6), c(1, 16, 6, 6))
show("upsample(h), h dim 1 16 6 6:", dim(upsample(h)))
show("upsample(h, output_size = c(1, 16, 12, 12)):",
     dim(upsample(h, output_size = c(1, 16, 12, 12))))

# The documentation's round trip: shrink with nn_conv2d, grow back.
input <- array(rnorm(1 * 16 * 12 * 12), c(1, 16, 12, 12))
downsample <- nn_conv2d(16, 16, 3, stride = 2, padding = 1)
h <- downsample(input)
show("downsample(input), input dim 1 16 12 12:", dim(h))
output <- upsample(h, output_size = dim(input))
show("upsample(h, output_size = dim(input)):", dim(output))
grads <- upsample$backward(array(1, dim(output)), h)
show("upsample$backward(): dims of input, weight, bias gradients:",
     c(paste(dim(grads$input), collapse = "x"), paste(dim(grads$weight), collapse = "x"),
       length(grads$bias)))
