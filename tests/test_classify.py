"""Page categories: trading needs a Korea marker, a data and a sale term; traps do not count."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from leakwatch.detect.classify import PageClassifier
from leakwatch.detect.engine import Detector
from leakwatch.models import Category

Classify = Callable[[str], Category | None]


@pytest.fixture
def classify(detector: Detector, classifier: PageClassifier) -> Classify:
    def run(text: str) -> Category | None:
        signals = classifier.open()
        signals.feed(text)
        for finding in detector.scan_text("t", text):
            signals.finding(finding)
        return signals.verdict().category

    return run


@pytest.mark.parametrize(
    "text",
    [
        "出售韩国实名数据，身份证+手机号，一手新鲜，TG私聊",
        "韓國個資出售，量大從優，聯繫飛機",
        "고객정보 디비 판매합니다 텔레그램 문의",
        "韩料打包出售 USDT结算",
        "出售 身份证四件套 样本：800101-1****** 김** 010-****-5678",
        "韩国 四件套 出售 样本 950615-2******",
    ],
)
def test_trade_offers(classify: Classify, text: str) -> None:
    assert classify(text) is Category.TRADING


@pytest.mark.parametrize(
    "text",
    [
        "正宗韩国料理，价格优惠，欢迎订购",  # Korean cuisine
        "韩国进口四件套床上用品 出售 价格从优",  # bedding
        "出售中国身份证四件套 TG 私聊",  # Chinese data, no Korea marker
        "韩国旅游攻略：首尔必去景点",  # Korea, no data, no sale
        "身份证号 800101-1234560",  # exposure, not a trade
        # A news story showing a masked sample, with no seller's words.
        "警方破获一起非法出售公民个人信息案，涉案样本如 800101-1****** 所示。",
        # Chinese data (UnionPay cards, Chinese IDs): a card is no Korea marker.
        "出售实名数据 姓名\t银行卡号\n王芳\t6222404806981281",
        # A Korean cosmetics shop needs the buyer's ID to clear customs.
        "本店常年出售韩国原装化妆品，量大从优，现货秒发。韩国直邮需清关，请提供收件人身份证号。",
        "韩国代购 面霜 价格 ¥899 身份证",
    ],
)
def test_not_trade_offers(classify: Classify, text: str) -> None:
    assert classify(text) is not Category.TRADING


def test_a_seller_quoting_the_news_is_still_selling(classify: Classify) -> None:
    assert classify("警方说的那种韩国身份证料我们有，出售，一手新鲜，TG私聊") is Category.TRADING


def test_a_customs_word_only_cancels_the_data_terms_of_its_own_sentence(
    classify: Classify,
) -> None:
    assert classify("出售韩国实名数据，身份证齐全。海关清关不用愁。") is Category.TRADING


def test_window_limits_how_far_apart_the_terms_may_be(classify: Classify) -> None:
    far = "韩国" + "。这里是一段很长的无关文字" * 60 + "实名数据出售"
    assert classify(far) is None
    assert classify("韩国实名数据出售") is Category.TRADING


def test_exposure_needs_one_severe_or_five_medium_findings(classify: Classify) -> None:
    assert classify("주민등록번호 800101-1234560") is Category.EXPOSURE
    assert classify("여권번호 M70412358") is Category.EXPOSURE
    assert classify("연락처 010-2345-6789") is None
    phones = "\n".join(f"김민준 010-2345-{i:04d}" for i in range(4))
    assert classify(phones) is None
    phones = "\n".join(f"김민준 010-2345-{i:04d}" for i in range(5))
    assert classify(phones) is Category.EXPOSURE


def test_terms_spanning_two_fed_pieces(classifier: PageClassifier) -> None:
    signals = classifier.open()
    signals.feed("……出售韩")
    signals.feed("国实名数据")
    assert signals.verdict().category is Category.TRADING


def test_a_service_line_does_not_cancel_a_sale_of_phone_numbers(classify: Classify) -> None:
    # Found in review: one 接码 line anywhere cancelled a trade the text itself makes.
    rows = "\n".join(f"김민준 010-2345-67{n:02d}" for n in range(3))
    text = f"出售韩国实名手机号，一手料，0.5元/条，量大从优。\n{rows}\n另提供韩国接码服务。"
    assert classify(text) is Category.TRADING
