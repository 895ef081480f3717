import Foundation

/// The two sequence-classification heads of transformers share one shape on the first token's
/// hidden state x (B, C):
///   RoBERTa (RobertaClassificationHead): logits = out_proj(dropout(tanh(dense(dropout(x)))))
///   BERT (pooler + BertForSequenceClassification): logits = classifier(dropout(tanh(pooler(x))))
/// `dense` is (C, C), `out` is (K, C); the BERT head has no dropout on its input.
package struct ClassifierHeadLinears {
    package let dense: Linear
    package let out: Linear
    package let inputDropout: Bool

    package init(dense: Linear, out: Linear, inputDropout: Bool) {
        self.dense = dense
        self.out = out
        self.inputDropout = inputDropout
    }

    package init(weights: EncoderWeights) {
        switch weights.head {
        case let .roberta(dense, outProj)?:
            self.init(dense: dense, out: outProj, inputDropout: true)
        case let .bert(classifier)?:
            guard let pooler = weights.pooler else { preconditionFailure("a BERT classifier needs the pooler") }
            self.init(dense: pooler, out: classifier, inputDropout: false)
        case nil:
            preconditionFailure("training needs a classification head")
        }
    }
}

/// What the head's backward pass needs, (B, C) each: the dense layer's input (after the input dropout),
/// tanh's output, and the out layer's input (tanh's output after dropout).
package struct ClassifierHeadActivations {
    package let input: UnsafeMutablePointer<Float>
    package let hidden: UnsafeMutablePointer<Float>
    package let hiddenDropped: UnsafeMutablePointer<Float>

    package init(input: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>,
                 hiddenDropped: UnsafeMutablePointer<Float>) {
        self.input = input
        self.hidden = hidden
        self.hiddenDropped = hiddenDropped
    }
}

/// logits is (B, K), x is (B, C). Dropout sites: `dropout.site(0)` on the input, `site(1)` on tanh's output.
package func classifierHeadForward(logits: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, rows b: Int,
                                   head: ClassifierHeadLinears, dropout: DropoutMask, saved: ClassifierHeadActivations) {
    let c = head.dense.inFeatures
    saved.input.update(from: x, count: b * c)
    if head.inputDropout && dropout.isActive {
        dropoutForward(saved.input, rows: b, cols: c, mask: dropout.site(0))
    }
    linearForward(out: saved.hidden, inp: saved.input, rows: b, layer: head.dense)
    for i in 0..<(b * c) { saved.hidden[i] = tanhf(saved.hidden[i]) }
    saved.hiddenDropped.update(from: saved.hidden, count: b * c)
    if dropout.isActive { dropoutForward(saved.hiddenDropped, rows: b, cols: c, mask: dropout.site(1)) }
    linearForward(out: logits, inp: saved.hiddenDropped, rows: b, layer: head.out)
}

/// dx is (B, C) (written), dlogits is (B, K); grads mirrors head (same shapes) and accumulates.
/// scratch is (B, C).
package func classifierHeadBackward(dx: UnsafeMutablePointer<Float>, dlogits: UnsafePointer<Float>, rows b: Int,
                                    head: ClassifierHeadLinears, grads: ClassifierHeadLinears, dropout: DropoutMask,
                                    saved: ClassifierHeadActivations, scratch: UnsafeMutablePointer<Float>) {
    let c = head.dense.inFeatures
    linearBackward(dinp: scratch, dweight: grads.out.weight.pointer, dbias: grads.out.bias.pointer,
                   dout: dlogits, inp: saved.hiddenDropped, rows: b, layer: head.out)
    if dropout.isActive { dropoutBackward(scratch, rows: b, cols: c, mask: dropout.site(1)) }
    // tanh' = 1 - tanh²
    for i in 0..<(b * c) { scratch[i] *= 1 - saved.hidden[i] * saved.hidden[i] }
    linearBackward(dinp: dx, dweight: grads.dense.weight.pointer, dbias: grads.dense.bias.pointer,
                   dout: scratch, inp: saved.input, rows: b, layer: head.dense)
    if head.inputDropout && dropout.isActive { dropoutBackward(dx, rows: b, cols: c, mask: dropout.site(0)) }
}
